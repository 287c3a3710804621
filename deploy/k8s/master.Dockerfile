# invoice-chaos/master:<version> -- the app image plus what the master of a run needs besides
# the project: the Toxiproxy binary (the fault proxies run next to the fakes) and the bundled
# scenarios. Load machines need none of this: they run invoice-chaos/app:<version> as it is.
# Build after `invoice-chaos images`, from the repository root:
#   docker build -f deploy/k8s/master.Dockerfile -t invoice-chaos/master:0.1.0 .
FROM invoice-chaos/toxiproxy:0.1.0 AS toxiproxy
FROM invoice-chaos/app:0.1.0
COPY --from=toxiproxy /toxiproxy-server /usr/local/bin/toxiproxy-server
COPY scenarios /project/scenarios
WORKDIR /project
