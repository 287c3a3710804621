# invoice-chaos/toxiproxy:<version> -- built by `invoice-chaos images` from the statically linked
# toxiproxy-server that `make setup` builds (.tools/bin/toxiproxy-server-static): no libc, no shell.
FROM scratch
COPY toxiproxy-server /toxiproxy-server
EXPOSE 8474
ENTRYPOINT ["/toxiproxy-server"]
CMD ["-host", "0.0.0.0", "-port", "8474"]
