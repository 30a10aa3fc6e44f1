"""How the partners' request bodies read in the OpenAPI document, with examples to paste."""

from __future__ import annotations

from typing import Any

from ceir.partners.schemas import BulkCheckIn

__all__ = ["BULK_CHECK_REQUEST", "JOB_REQUEST"]

_CSV_BODY = {
    "type": "string",
    "description": 'a header "imei[,brand,model]" then one row per IMEI, or one IMEI a line',
}

BULK_CHECK_REQUEST: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": BulkCheckIn.model_json_schema(),
                "examples": {
                    "with_models": {
                        "summary": "IMEIs with the model the seller states",
                        "value": {
                            "items": [
                                {
                                    "imei": "354678190000011",
                                    "brand": "Apple",
                                    "model": "iPhone 17 Pro",
                                },
                                {"imei": "354678190000029"},
                            ]
                        },
                    }
                },
            },
            "text/csv": {
                "schema": _CSV_BODY,
                "examples": {
                    "with_header": {
                        "summary": "CSV with a header",
                        "value": "imei,brand,model\n354678190000011,Apple,iPhone 17 Pro\n"
                        "354678190000029,,\n",
                    },
                    "one_a_line": {
                        "summary": "One IMEI a line",
                        "value": "354678190000011\n354678190000029\n",
                    },
                },
            },
        },
    }
}

JOB_REQUEST: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "text/csv": {
                "schema": _CSV_BODY,
                "example": "imei,brand,model\n354678190000011,Apple,iPhone 17 Pro\n",
            }
        },
    }
}
