"""Pure domain logic: entities, signatures, rules. No IO happens here."""
