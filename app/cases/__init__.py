"""Cases: referrals, waiting-list places and applications, found by reference."""
