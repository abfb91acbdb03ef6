"""What signed-in users may change about themselves without an admin: for now, the
language of their pages."""
