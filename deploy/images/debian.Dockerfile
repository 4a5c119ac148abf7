# canopy/debian: Debian bookworm without Python (the base of the infrastructure images), flattened from
# canopy/python:3.11, itself imported from a debootstrap root filesystem: no registry involved.
FROM canopy/python:3.11 AS strip
RUN apt-get purge -y -q --allow-remove-essential python3 python3-minimal python3.11 python3.11-minimal \
      libpython3.11-minimal libpython3.11-stdlib python3-pip python3-venv python3-pip-whl \
      python3-setuptools-whl >/dev/null \
 && apt-get autoremove -y -q --purge >/dev/null \
 && rm -rf /var/lib/apt/lists/* /usr/share/doc /usr/share/man /usr/share/locale /var/cache/apt/*
FROM scratch
COPY --from=strip / /
ENV LANG=C.UTF-8
CMD ["bash"]
