"""The booking service layer: transactions and database work, no HTTP."""
