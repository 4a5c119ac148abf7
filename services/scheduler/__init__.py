"""The scheduler: runs booked windows (bind ahead, start, stop, unbind) from the bookings in the store."""
