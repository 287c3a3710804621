# invoice-chaos/app:<version> -- built by `invoice-chaos images` (harness/stack/images.py), which
# puts the wheels `pip wheel` made on the host into the build context: deps/ (with
# requirements.txt) and project/. The build runs without network (--network none).
# Two layers: the dependencies (kept by the engine's layer cache while the wheels are the same
# files), then the project, so a change to the code rebuilds in seconds.
FROM invoice-chaos/python:3.11
COPY deps /wheels
RUN python3 -m venv /opt/invoice-chaos \
 && /opt/invoice-chaos/bin/pip install --no-index --no-cache-dir --disable-pip-version-check \
      --find-links /wheels -r /wheels/requirements.txt \
 && rm -rf /wheels
COPY project /project-wheel
RUN /opt/invoice-chaos/bin/pip install --no-index --no-deps --no-cache-dir --disable-pip-version-check \
      /project-wheel/*.whl \
 && rm -rf /project-wheel
ENV PATH=/opt/invoice-chaos/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    PYTHONUNBUFFERED=1
WORKDIR /project
