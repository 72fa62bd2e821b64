// bench/xds-client: the simulated sidecars of bench/vs-istiod in Go, Go's standard library only.
//
// The same clients as bench/vs-istiod/client-worker.ts: each one ADS stream (state of the world,
// or delta with DELTA, as Envoy under Istio's agent speaks by default; plaintext HTTP/2) on its
// own connection, Envoy-like: CDS and LDS wildcard, then EDS for the EDS
// clusters CDS names and RDS for the route configurations LDS names (read from the bytes as they
// arrive, subscribing again when the set changes), every response ACKed, a failed stream opened
// again after Envoy's backoff. Decoding only the fields this needs costs a fraction of the
// Node.js worker's CPU, so on a 2-vCPU machine the control plane, not its clients, sets the
// convergence time.
//
// It speaks to its parent (bench/vs-istiod/clients.ts) in JSON lines: commands on stdin, reports
// on stdout, the messages of clients.ts's ToWorker and FromWorker.
//
//	xds-client TARGET NODES_FILE [sotw|delta]    (NODES_FILE: one base64 envoy.config.core.v3.Node a line, one line a client)
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

const (
	typeCluster  = "type.googleapis.com/envoy.config.cluster.v3.Cluster"
	typeEndpoint = "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment"
	typeListener = "type.googleapis.com/envoy.config.listener.v3.Listener"
	typeRoute    = "type.googleapis.com/envoy.config.route.v3.RouteConfiguration"
	typeHCM      = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"
	adsPath      = "/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources"
	deltaPath    = "/envoy.service.discovery.v3.AggregatedDiscoveryService/DeltaAggregatedResources"
	// envoy.config.cluster.v3.Cluster.DiscoveryType.EDS
	discoveryEDS = 3
)

// --- protobuf wire format: only what a DiscoveryRequest and the fields read here need ---

const (
	wireVarint = 0
	wire64     = 1
	wireBytes  = 2
	wire32     = 5
)

var errMalformed = errors.New("malformed protobuf")

// fields calls each(field, wire type, bytes value, varint value) for every field of a message.
func fields(b []byte, each func(field int, wire int, v []byte, n uint64)) error {
	for len(b) > 0 {
		tag, k := binary.Uvarint(b)
		if k <= 0 {
			return errMalformed
		}
		b = b[k:]
		field, wire := int(tag>>3), int(tag&7)
		switch wire {
		case wireVarint:
			n, k := binary.Uvarint(b)
			if k <= 0 {
				return errMalformed
			}
			b = b[k:]
			each(field, wire, nil, n)
		case wireBytes:
			n, k := binary.Uvarint(b)
			if k <= 0 || uint64(len(b)-k) < n {
				return errMalformed
			}
			each(field, wire, b[k:k+int(n)], 0)
			b = b[k+int(n):]
		case wire64, wire32:
			size := 8
			if wire == wire32 {
				size = 4
			}
			if len(b) < size {
				return errMalformed
			}
			b = b[size:]
		default:
			return errMalformed
		}
	}
	return nil
}

func appendBytesField(out []byte, field int, v []byte) []byte {
	out = binary.AppendUvarint(out, uint64(field<<3|wireBytes))
	out = binary.AppendUvarint(out, uint64(len(v)))
	return append(out, v...)
}

// grpcFrame prefixes a message with gRPC's frame header (not compressed, its length).
func grpcFrame(msg []byte) []byte {
	frame := make([]byte, 5, 5+len(msg))
	binary.BigEndian.PutUint32(frame[1:], uint32(len(msg)))
	return append(frame, msg...)
}

// anyValue is the value (field 2) of a google.protobuf.Any.
func anyValue(a []byte) []byte {
	var value []byte
	_ = fields(a, func(f, w int, v []byte, _ uint64) {
		if f == 2 && w == wireBytes {
			value = v
		}
	})
	return value
}

func appendStringField(out []byte, field int, s string) []byte {
	return appendBytesField(out, field, []byte(s))
}

// discoveryRequest encodes an envoy.service.discovery.v3.DiscoveryRequest framed for gRPC.
func discoveryRequest(node []byte, typeURL, version, nonce string, names []string) []byte {
	msg := make([]byte, 0, 256)
	if version != "" {
		msg = appendStringField(msg, 1, version)
	}
	if node != nil {
		msg = appendBytesField(msg, 2, node)
	}
	for _, n := range names {
		msg = appendStringField(msg, 3, n)
	}
	msg = appendStringField(msg, 4, typeURL)
	if nonce != "" {
		msg = appendStringField(msg, 5, nonce)
	}
	return grpcFrame(msg)
}

// deltaRequest encodes an envoy.service.discovery.v3.DeltaDiscoveryRequest framed for gRPC:
// node (1), type_url (2), resource_names_subscribe (3), resource_names_unsubscribe (4), response_nonce (6).
func deltaRequest(node []byte, typeURL, nonce string, subscribe, unsubscribe []string) []byte {
	msg := make([]byte, 0, 256)
	if node != nil {
		msg = appendBytesField(msg, 1, node)
	}
	msg = appendStringField(msg, 2, typeURL)
	for _, n := range subscribe {
		msg = appendStringField(msg, 3, n)
	}
	for _, n := range unsubscribe {
		msg = appendStringField(msg, 4, n)
	}
	if nonce != "" {
		msg = appendStringField(msg, 6, nonce)
	}
	return grpcFrame(msg)
}

type response struct {
	version, typeURL, nonce string
	values                  [][]byte
	// Delta only: the names of values (a SotW resource is named by its own field 1), and the removed names.
	names, removed []string
}

// decodeResponse: a DiscoveryResponse (version_info 1, resources 2 as Any, type_url 4, nonce 5)
// or, with delta, a DeltaDiscoveryResponse (system_version_info 1, resources 2 as Resource: name
// 3, resource 2 as Any; type_url 4, nonce 5, removed_resources 6).
func decodeResponse(b []byte, delta bool) (response, error) {
	var r response
	err := fields(b, func(f, w int, v []byte, _ uint64) {
		if w != wireBytes {
			return
		}
		switch {
		case f == 1:
			r.version = string(v)
		case f == 2 && !delta:
			r.values = append(r.values, anyValue(v))
		case f == 2:
			name, value := deltaResource(v)
			r.names = append(r.names, name)
			r.values = append(r.values, value)
		case f == 4:
			r.typeURL = string(v)
		case f == 5:
			r.nonce = string(v)
		case f == 6 && delta:
			r.removed = append(r.removed, string(v))
		}
	})
	return r, err
}

// deltaResource: a discovery Resource's name (3) and the value of its resource (2, an Any).
func deltaResource(b []byte) (name string, value []byte) {
	_ = fields(b, func(f, w int, v []byte, _ uint64) {
		if w != wireBytes {
			return
		}
		switch f {
		case 3:
			name = string(v)
		case 2:
			value = anyValue(v)
		}
	})
	return name, value
}

// resourceName is field 1 of every resource type asked for here (Cluster.name, Listener.name,
// RouteConfiguration.name, ClusterLoadAssignment.cluster_name).
func resourceName(v []byte) string {
	name := ""
	_ = fields(v, func(f, w int, b []byte, _ uint64) {
		if f == 1 && w == wireBytes {
			name = string(b)
		}
	})
	return name
}

// edsName is the name an EDS cluster is asked for by (eds_cluster_config.service_name, else its name); "" if not EDS.
func edsName(cluster []byte) string {
	var name, serviceName string
	var typ uint64
	_ = fields(cluster, func(f, w int, v []byte, n uint64) {
		switch {
		case f == 1 && w == wireBytes:
			name = string(v)
		case f == 2 && w == wireVarint:
			typ = n
		case f == 3 && w == wireBytes:
			_ = fields(v, func(ef, ew int, ev []byte, _ uint64) {
				if ef == 2 && ew == wireBytes {
					serviceName = string(ev)
				}
			})
		}
	})
	if typ != discoveryEDS {
		return ""
	}
	if serviceName != "" {
		return serviceName
	}
	return name
}

// rdsNames adds the route_config_name of every RDS HTTP connection manager in a Listener's filter chains.
func rdsNames(listener []byte, out map[string]bool) {
	_ = fields(listener, func(f, w int, chain []byte, _ uint64) {
		if (f != 3 && f != 25) || w != wireBytes { // filter_chains, default_filter_chain
			return
		}
		_ = fields(chain, func(cf, cw int, filter []byte, _ uint64) {
			if cf != 3 || cw != wireBytes { // FilterChain.filters
				return
			}
			_ = fields(filter, func(ff, fw int, any []byte, _ uint64) {
				if ff != 4 || fw != wireBytes { // Filter.typed_config
					return
				}
				var typeURL string
				var value []byte
				_ = fields(any, func(af, aw int, av []byte, _ uint64) {
					if af == 1 && aw == wireBytes {
						typeURL = string(av)
					} else if af == 2 && aw == wireBytes {
						value = av
					}
				})
				if typeURL != typeHCM {
					return
				}
				_ = fields(value, func(hf, hw int, rds []byte, _ uint64) {
					if hf != 3 || hw != wireBytes { // HttpConnectionManager.rds
						return
					}
					_ = fields(rds, func(rf, rw int, name []byte, _ uint64) {
						if rf == 2 && rw == wireBytes { // Rds.route_config_name
							out[string(name)] = true
						}
					})
				})
			})
		})
	})
}

// --- the clients ---

type typeState struct {
	version, nonce string
	names          []string // sorted; nil for a wildcard
	held           map[string][]byte
	responses      int
}

type client struct {
	index  int
	node   []byte
	target string
	delta  bool

	mu        sync.Mutex
	types     map[string]*typeState
	connected bool
	failures  int
}

func (c *client) state(typeURL string) *typeState {
	st := c.types[typeURL]
	if st == nil {
		st = &typeState{held: map[string][]byte{}}
		c.types[typeURL] = st
	}
	return st
}

var (
	responses     atomic.Int64
	resourceBytes atomic.Int64
	firstFailure  atomic.Bool
)

// run keeps one stream open, opening a new one after Envoy's backoff (500 ms doubling to 30 s, jittered) when it fails.
func (c *client) run(w *watcher) {
	for {
		err := c.stream(w)
		c.mu.Lock()
		c.failures++
		failures := c.failures
		c.types = map[string]*typeState{}
		c.mu.Unlock()
		backoff := min(30*time.Second, 500*time.Millisecond<<min(failures-1, 6))
		backoff = time.Duration(float64(backoff) * (0.5 + rand.Float64()/2))
		// One line for the first failure; the parent's progress reports count the rest.
		if firstFailure.CompareAndSwap(false, true) {
			fmt.Fprintf(os.Stderr, "xds-client %d: stream failed (%v); again in %v (further failures are only counted)\n", c.index, err, backoff.Round(time.Millisecond))
		}
		time.Sleep(backoff)
	}
}

func (c *client) stream(w *watcher) error {
	var protocols http.Protocols
	protocols.SetUnencryptedHTTP2(true)
	// One transport per client: one connection each, as each Envoy has its own.
	transport := &http.Transport{Protocols: &protocols, HTTP2: &http.HTTP2Config{MaxReceiveBufferPerStream: 64 << 20, MaxReceiveBufferPerConnection: 64 << 20}}
	defer transport.CloseIdleConnections()
	pr, pw := io.Pipe()
	out := make(chan []byte, 64)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		defer pw.Close()
		for {
			select {
			case frame := <-out:
				if _, err := pw.Write(frame); err != nil {
					return
				}
			case <-ctx.Done():
				return
			}
		}
	}()
	c.mu.Lock()
	c.types = map[string]*typeState{}
	c.state(typeCluster)
	c.state(typeListener)
	c.mu.Unlock()
	path := adsPath
	if c.delta {
		path = deltaPath
		out <- deltaRequest(c.node, typeCluster, "", nil, nil)
		out <- deltaRequest(nil, typeListener, "", nil, nil)
	} else {
		out <- discoveryRequest(c.node, typeCluster, "", "", nil)
		out <- discoveryRequest(nil, typeListener, "", "", nil)
	}

	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+c.target+path, pr)
	if err != nil {
		return err
	}
	req.Header.Set("content-type", "application/grpc")
	req.Header.Set("te", "trailers")
	resp, err := (&http.Client{Transport: transport}).Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	body := bufio.NewReaderSize(resp.Body, 64<<10)
	header := make([]byte, 5)
	for {
		if _, err := io.ReadFull(body, header); err != nil {
			message, _ := url.PathUnescape(resp.Trailer.Get("grpc-message"))
			return fmt.Errorf("%v (grpc-status %s: %s)", err, resp.Trailer.Get("grpc-status"), message)
		}
		msg := make([]byte, binary.BigEndian.Uint32(header[1:]))
		if _, err := io.ReadFull(body, msg); err != nil {
			return err
		}
		r, err := decodeResponse(msg, c.delta)
		if err != nil {
			return err
		}
		frames, endpoints := c.handle(r)
		for _, frame := range frames {
			out <- frame
		}
		switch r.typeURL {
		case typeRoute:
			w.check(c)
		case typeEndpoint:
			w.checkEndpoints(c, endpoints)
		}
	}
}

// handle applies a response as Envoy would (a wildcard type replaces what is held, a named type
// updates the names it carries), subscribes to what CDS and LDS name, and returns the requests to
// send (any new subscriptions, then the ACK) and, for EDS, the assignments received by name.
func (c *client) handle(r response) ([][]byte, map[string][]byte) {
	responses.Add(1)
	var size int64
	for _, v := range r.values {
		size += int64(len(v))
	}
	resourceBytes.Add(size)

	c.mu.Lock()
	defer c.mu.Unlock()
	c.connected = true
	var sends [][]byte
	follow := func(typeURL string, set map[string]bool) {
		names := make([]string, 0, len(set))
		for n := range set {
			names = append(names, n)
		}
		slices.Sort(names)
		st := c.state(typeURL)
		if slices.Equal(st.names, names) {
			return
		}
		keep := map[string]bool{}
		for _, n := range names {
			keep[n] = true
		}
		var gone []string
		for _, n := range st.names {
			if !keep[n] {
				gone = append(gone, n)
			}
		}
		for n := range st.held {
			if !keep[n] {
				delete(st.held, n)
			}
		}
		if c.delta {
			had := map[string]bool{}
			for _, n := range st.names {
				had[n] = true
			}
			var added []string
			for _, n := range names {
				if !had[n] {
					added = append(added, n)
				}
			}
			sends = append(sends, deltaRequest(nil, typeURL, "", added, gone))
		} else {
			sends = append(sends, discoveryRequest(nil, typeURL, st.version, st.nonce, names))
		}
		st.names = names
	}
	st := c.state(r.typeURL)
	if !c.delta && (r.typeURL == typeCluster || r.typeURL == typeListener) {
		clear(st.held) // state of the world: the response is the whole set
	}
	var endpoints map[string][]byte
	if r.typeURL == typeEndpoint {
		endpoints = make(map[string][]byte, len(r.values))
	}
	for i, v := range r.values {
		var name string
		if c.delta {
			name = r.names[i]
		} else {
			name = resourceName(v)
		}
		st.held[name] = v
		if endpoints != nil {
			endpoints[name] = v
		}
	}
	for _, name := range r.removed {
		delete(st.held, name)
	}
	st.responses++
	st.version, st.nonce = r.version, r.nonce
	// What CDS and LDS lead to, from every cluster and listener held (a delta response holds only the changed ones).
	switch r.typeURL {
	case typeCluster:
		set := map[string]bool{}
		for _, v := range st.held {
			if n := edsName(v); n != "" {
				set[n] = true
			}
		}
		follow(typeEndpoint, set)
	case typeListener:
		set := map[string]bool{}
		for _, v := range st.held {
			rdsNames(v, set)
		}
		follow(typeRoute, set)
	}
	if c.delta {
		return append(sends, deltaRequest(nil, r.typeURL, st.nonce, nil, nil)), endpoints
	}
	return append(sends, discoveryRequest(nil, r.typeURL, st.version, st.nonce, st.names)), endpoints
}

// subscribed: the client asks for this EDS name.
func (c *client) subscribed(cluster string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	st := c.types[typeEndpoint]
	if st == nil {
		return false
	}
	_, found := slices.BinarySearch(st.names, cluster)
	return found
}

// synced: CDS and LDS arrived and every EDS and RDS name they lead to is held.
func (c *client) synced() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	cds, lds, eds, rds := c.types[typeCluster], c.types[typeListener], c.types[typeEndpoint], c.types[typeRoute]
	return cds != nil && cds.responses > 0 && lds != nil && lds.responses > 0 &&
		(eds == nil || len(eds.held) >= len(eds.names)) && rds != nil && len(rds.names) > 0 && len(rds.held) >= len(rds.names)
}

func (c *client) counts() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := func(t string) (held, names int) {
		if st := c.types[t]; st != nil {
			return len(st.held), len(st.names)
		}
		return 0, 0
	}
	clusters, _ := n(typeCluster)
	listeners, _ := n(typeListener)
	endpoints, edsNames := n(typeEndpoint)
	routes, rdsNames := n(typeRoute)
	return map[string]int{"clusters": clusters, "edsNames": edsNames, "endpoints": endpoints, "listeners": listeners, "rdsNames": rdsNames, "routes": routes}
}

// holds: every needle is in one of the route configurations the client holds.
func (c *client) holds(needles [][]byte) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	rds := c.types[typeRoute]
	if rds == nil {
		return false
	}
	for _, needle := range needles {
		found := false
		for _, v := range rds.held {
			if bytes.Contains(v, needle) {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// --- the watch: when each client first holds every needle ---

type watcher struct {
	mu      sync.Mutex
	id      int
	needles [][]byte
	at      []float64
	pending int
	report  func(v any)
	// Endpoint changes being watched, by EDS name, oldest first.
	endpoints map[string][]*endpointWatch
}

// endpointWatch: when each client subscribed to an EDS name first holds an assignment with the needle.
type endpointWatch struct {
	id      int
	needle  []byte
	at      []float64 // -1: the client does not ask for this name
	pending int
}

func (w *watcher) watchEndpoint(id int, cluster string, needle []byte, clients []*client) {
	ew := &endpointWatch{id: id, needle: needle, at: make([]float64, len(clients))}
	for _, c := range clients {
		if c.subscribed(cluster) {
			ew.pending++
		} else {
			ew.at[c.index] = -1
		}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.report(map[string]any{"op": "watching", "id": id})
	if ew.pending == 0 {
		w.report(map[string]any{"op": "seenEndpoint", "id": id, "at": ew.at})
		return
	}
	w.endpoints[cluster] = append(w.endpoints[cluster], ew)
}

// checkEndpoints: an assignment carrying a watch's needle also settles that client's older watches
// of the same name (a later change replaced what they looked for, and a client may get both at once).
func (w *watcher) checkEndpoints(c *client, received map[string][]byte) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for cluster, value := range received {
		watches := w.endpoints[cluster]
		newest := -1
		for i := len(watches) - 1; i >= 0; i-- {
			if watches[i].at[c.index] == 0 && bytes.Contains(value, watches[i].needle) {
				newest = i
				break
			}
		}
		if newest < 0 {
			continue
		}
		at := nowMs()
		kept := watches[:0]
		for i, ew := range watches {
			if i <= newest && ew.at[c.index] == 0 {
				ew.at[c.index] = at
				ew.pending--
			}
			if ew.pending == 0 {
				w.report(map[string]any{"op": "seenEndpoint", "id": ew.id, "at": ew.at})
			} else {
				kept = append(kept, ew)
			}
		}
		if len(kept) == 0 {
			delete(w.endpoints, cluster)
		} else {
			w.endpoints[cluster] = kept
		}
	}
}

func nowMs() float64 { return float64(time.Now().UnixNano()) / 1e6 }

func (w *watcher) check(c *client) {
	w.mu.Lock()
	active := w.needles != nil && w.at[c.index] == 0
	needles := w.needles
	w.mu.Unlock()
	if !active || !c.holds(needles) {
		return
	}
	at := nowMs()
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.needles == nil || w.at[c.index] != 0 {
		return
	}
	w.at[c.index] = at
	w.pending--
	if w.pending == 0 {
		w.needles = nil
		w.report(map[string]any{"op": "seen", "id": w.id, "at": w.at})
	}
}

func rchar() int64 {
	b, err := os.ReadFile("/proc/self/io")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "rchar: "); ok {
			n, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			return n
		}
	}
	return 0
}

func main() {
	if len(os.Args) < 3 || len(os.Args) > 4 || (len(os.Args) == 4 && os.Args[3] != "sotw" && os.Args[3] != "delta") {
		fmt.Fprintln(os.Stderr, "usage: xds-client TARGET NODES_FILE [sotw|delta]")
		os.Exit(2)
	}
	delta := len(os.Args) == 4 && os.Args[3] == "delta"
	target := os.Args[1]
	text, err := os.ReadFile(os.Args[2])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	var clients []*client
	for i, line := range strings.Fields(string(text)) {
		node, err := base64.StdEncoding.DecodeString(line)
		if err != nil {
			fmt.Fprintf(os.Stderr, "node %d: %v\n", i, err)
			os.Exit(2)
		}
		clients = append(clients, &client{index: i, node: node, target: target, delta: delta, types: map[string]*typeState{}})
	}

	var outMu sync.Mutex
	enc := json.NewEncoder(os.Stdout)
	report := func(v any) {
		outMu.Lock()
		defer outMu.Unlock()
		_ = enc.Encode(v)
	}
	w := &watcher{report: report, endpoints: map[string][]*endpointWatch{}}
	for _, c := range clients {
		go c.run(w)
	}

	startedAt := nowMs()
	go func() {
		for range time.Tick(500 * time.Millisecond) {
			connected, synced, failures := 0, 0, 0
			for _, c := range clients {
				if c.synced() {
					synced++
				}
				c.mu.Lock()
				if c.connected {
					connected++
				}
				failures += c.failures
				c.mu.Unlock()
			}
			report(map[string]any{"op": "progress", "connected": connected, "synced": synced, "errors": failures, "sample": clients[0].counts()})
			if synced == len(clients) {
				report(map[string]any{"op": "synced", "ms": nowMs() - startedAt, "sample": clients[0].counts()})
				return
			}
		}
	}()

	lines := bufio.NewScanner(os.Stdin)
	lines.Buffer(make([]byte, 1<<20), 64<<20)
	for lines.Scan() {
		var m struct {
			Op      string   `json:"op"`
			ID      int      `json:"id"`
			Needles []string `json:"needles"`
			Cluster string   `json:"cluster"`
		}
		if err := json.Unmarshal(lines.Bytes(), &m); err != nil {
			fmt.Fprintf(os.Stderr, "xds-client: bad command %q: %v\n", lines.Text(), err)
			continue
		}
		switch m.Op {
		case "watch":
			needles := make([][]byte, len(m.Needles))
			for i, n := range m.Needles {
				needles[i] = []byte(n)
			}
			w.mu.Lock()
			w.id, w.needles, w.at, w.pending = m.ID, needles, make([]float64, len(clients)), len(clients)
			w.mu.Unlock()
			report(map[string]any{"op": "watching", "id": m.ID})
			// A client may hold them already (a watch set after the write).
			for _, c := range clients {
				w.check(c)
			}
		case "watchEndpoint":
			w.watchEndpoint(m.ID, m.Cluster, []byte(m.Needles[0]), clients)
		case "counters":
			report(map[string]any{"op": "counters", "wireBytes": rchar(), "resourceBytes": resourceBytes.Load(), "responses": responses.Load(), "sample": clients[0].counts()})
		case "stop":
			os.Exit(0)
		}
	}
	// stdin closed: the measuring process is gone, and so are we.
}
