# The rcstress worker image, for Docker hosts with no image registry. Do not build this file
# directly: deploy/worker-image.sh stages rootfs/ (a stripped rcstress binary and the shared
# libraries `ldd` lists for it) and then runs `docker build` on that context.
FROM scratch
COPY rootfs/ /
ENV PATH=/usr/bin
WORKDIR /tmp
ENTRYPOINT ["/usr/bin/rcstress"]
CMD ["--help"]
