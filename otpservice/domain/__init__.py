"""The verification domain: lifecycle, codes, and the ports its adapters implement."""
