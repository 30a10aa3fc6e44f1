"""Border-crossing records from the border service: who left and entered Kazakhstan, when."""
