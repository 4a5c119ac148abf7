# A model workload: the dependencies image (deploy/deps.Dockerfile) plus the SDK and the package.
# Built with `docker build --network none`: nothing is fetched.
ARG DEPS=canopy/deps:latest
FROM ${DEPS}
COPY sdk /opt/sdk
COPY package /opt/model
ENV PYTHONPATH=/opt/sdk PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 HOME=/tmp
USER 10001:10001
EXPOSE 8000
CMD ["/opt/venv/bin/python", "-m", "platform_sdk.serving", "--package", "/opt/model", "--host", "0.0.0.0", "--port", "8000"]
