"""The notifier: e-mails end users about their bookings and delivers the apps' notification requests."""
