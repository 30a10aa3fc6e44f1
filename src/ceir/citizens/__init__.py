"""Citizens: sign-in by IIN and SMS code, personal-import registrations, unblocking appeals."""
