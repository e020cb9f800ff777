"""Reading Horizon's JSON: records in, domain values (Credits) out. No I/O."""
