"""Run the gateway alone under gunicorn (deploy/gunicorn.conf.py): python -m services.gateway."""

from services.gateway.wsgi import serve

serve()
