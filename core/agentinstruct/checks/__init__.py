"""Pure check functions the skills use to validate transcripts."""
