module trellis.local/bench-xds-client

go 1.24
