module trellis.local/bench-ca-client

go 1.24
