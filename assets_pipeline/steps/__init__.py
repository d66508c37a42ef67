"""Pure pipeline steps: arrays in, arrays out, each reporting what it did."""
