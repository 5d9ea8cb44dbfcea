"""The directory: lines (called numbers), teams and agents of a tenant."""
