"""MWA and ATCA clients behind one small interface; a recorder and a simulator for tests and demos."""
