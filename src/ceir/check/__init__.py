"""The IMEI check anyone can run before buying: verdict, reasons, and the model the TAC names."""
