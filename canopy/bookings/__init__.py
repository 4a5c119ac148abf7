"""Bookings: an end user's app at a location for time windows (once, daily, cron), and their due times."""
