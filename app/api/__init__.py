"""HTTP plumbing shared by every router: sessions, authentication, pagination."""
