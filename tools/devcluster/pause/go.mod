module trellis.local/devcluster-pause

go 1.24
