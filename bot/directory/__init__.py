"""The nursery directory (托育机构名录): the register, its CSV import and export, nearby search,
filing (备案) lookup, claim codes for operators and their free-place (空位) updates."""
