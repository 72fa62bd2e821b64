package sds

// The SDS protocol as the agent serves it: one state-of-the-world or delta stream per Envoy
// subscription (Envoy opens one per secret name), with the usual xDS rules:
//   - one response in flight per stream: the next is sent once Envoy has ACKed or NACKed it;
//   - a nonce per response; a state-of-the-world request answering an older nonce is stale and
//     ignored whole (the ACK of the latest response carries the current subscription);
//   - a NACK (error_detail) is logged and the rejected content is not sent again until it
//     changes; Envoy keeps what it had;
//   - an update (a renewal, a root change) sends the changed secrets on every open stream that
//     asked for them, with a new version (a digest of the content) and nonce.
// Names the agent does not have yet are not answered: Envoy waits for them, as with Istio's
// agent, and gets them with the first certificate. There is no wildcard for secrets.

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"sync/atomic"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// boot tells this agent's nonces from an earlier one's.
var boot = func() string {
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}()

var streamSeq atomic.Uint64

type inflight struct{ nonce, version string }

// stream is one StreamSecrets or DeltaSecrets call. Its state is owned by serveStream's
// goroutine; other goroutines only wake it.
type stream struct {
	id       uint64
	delta    bool
	node     string
	woken    chan struct{}
	inflight *inflight
	nonceSeq int
	missing  map[string]bool

	// state of the world
	names       []string
	subscribed  bool
	lastVersion string
	lastNonce   string

	// delta
	started bool
	subs    map[string]bool
	known   map[string]string
}

func (st *stream) wake() {
	select {
	case st.woken <- struct{}{}:
	default:
	}
}

type received struct {
	sotw  *DiscoveryRequest
	delta *DeltaDiscoveryRequest
	err   error
}

func (s *Server) serveStream(ss grpc.ServerStream, delta bool) error {
	st := &stream{id: streamSeq.Add(1), delta: delta, woken: make(chan struct{}, 1), missing: map[string]bool{}, subs: map[string]bool{}, known: map[string]string{}}
	defer s.track(st)()
	reqs := make(chan received)
	go func() {
		for {
			var b []byte
			if err := ss.RecvMsg(&b); err != nil {
				select {
				case reqs <- received{err: err}:
				case <-ss.Context().Done():
				}
				return
			}
			var r received
			if delta {
				r.delta, r.err = DecodeDeltaDiscoveryRequest(b)
			} else {
				r.sotw, r.err = DecodeDiscoveryRequest(b)
			}
			if r.err != nil {
				r.err = status.Error(codes.InvalidArgument, r.err.Error())
			}
			select {
			case reqs <- r:
			case <-ss.Context().Done():
				return
			}
			if r.err != nil {
				return
			}
		}
	}()
	for {
		select {
		case <-ss.Context().Done():
			return nil
		case r := <-reqs:
			if r.err != nil {
				if status.Code(r.err) == codes.InvalidArgument {
					return r.err
				}
				return nil // Envoy closed the stream
			}
			typeURL, node := "", ""
			if delta {
				typeURL, node = r.delta.TypeURL, r.delta.NodeID
			} else {
				typeURL, node = r.sotw.TypeURL, r.sotw.NodeID
			}
			if st.node == "" {
				st.node = node
			}
			if typeURL != "" && typeURL != SecretTypeURL {
				s.log.Warn("SDS request for another type; ending the stream", "stream", st.id, "type", typeURL)
				return status.Errorf(codes.InvalidArgument, "this server serves %s only", SecretTypeURL)
			}
			if delta {
				s.applyDelta(st, r.delta)
			} else {
				s.applySotw(st, r.sotw)
			}
		case <-st.woken:
		}
		if err := s.step(st, ss); err != nil {
			return err
		}
	}
}

// answer records Envoy's answer to the response in flight, if the request is it.
func (s *Server) answer(st *stream, nonce string, nack *Status) {
	if st.inflight == nil || nonce != st.inflight.nonce {
		return
	}
	f := st.inflight
	st.inflight = nil
	if nack != nil {
		s.log.Warn("Envoy rejected the secrets", "stream", st.id, "node", st.node, "version", f.version, "nonce", f.nonce, "error", nack.Message)
	} else {
		s.log.Debug("secrets acknowledged", "stream", st.id, "node", st.node, "version", f.version, "nonce", f.nonce)
	}
}

// unknown: Envoy asked for a secret the agent does not have, said once per name and stream.
func (s *Server) unknown(st *stream, name string) {
	if st.missing[name] {
		return
	}
	st.missing[name] = true
	if serves(name) {
		s.log.Debug("Envoy waits for a secret not obtained yet", "stream", st.id, "node", st.node, "name", name)
	} else {
		s.log.Warn("Envoy asked for a secret the agent does not serve", "stream", st.id, "node", st.node, "name", name)
	}
}

func (s *Server) applySotw(st *stream, req *DiscoveryRequest) {
	if st.subscribed {
		// A request answering an older response than the latest one is stale: ignored whole.
		stale := req.ResponseNonce != st.lastNonce
		if req.ResponseNonce == "" {
			stale = st.inflight != nil
		}
		if stale {
			return
		}
	}
	s.answer(st, req.ResponseNonce, req.ErrorDetail)
	st.subscribed = true
	st.names = st.names[:0]
	seen := map[string]bool{}
	for _, n := range req.ResourceNames {
		if !seen[n] {
			seen[n] = true
			st.names = append(st.names, n)
		}
	}
}

func (s *Server) applyDelta(st *stream, req *DeltaDiscoveryRequest) {
	if !st.started {
		st.started = true
		for n, v := range req.InitialResourceVersions {
			st.known[n] = v
		}
	}
	s.answer(st, req.ResponseNonce, req.ErrorDetail)
	// Subscription changes count even on a request with an older nonce: they are incremental.
	for _, n := range req.Subscribe {
		if n != "*" {
			st.subs[n] = true
		}
	}
	for _, n := range req.Unsubscribe {
		delete(st.subs, n)
		delete(st.known, n)
	}
}

// step sends the next response, if none is in flight and there is something new to send.
func (s *Server) step(st *stream, ss grpc.ServerStream) error {
	if st.inflight != nil {
		return nil
	}
	st.nonceSeq++
	nonce := fmt.Sprintf("%s-%d-%d", boot, st.id, st.nonceSeq)
	var out []byte
	var secrets []EncodedSecret
	var version string
	if st.delta {
		var removed []string
		for n := range st.subs {
			v, ok := s.secret(n)
			switch {
			case !ok:
				s.unknown(st, n)
				if _, had := st.known[n]; had {
					delete(st.known, n)
					removed = append(removed, n)
				}
			case st.known[n] != v.Version:
				secrets = append(secrets, v)
			}
		}
		if len(secrets) == 0 && len(removed) == 0 {
			return nil
		}
		for _, v := range secrets {
			st.known[v.Name] = v.Version
		}
		version = SetVersion(secrets)
		out = EncodeDeltaDiscoveryResponse(version, nonce, secrets, removed, ControlPlaneID)
	} else {
		if !st.subscribed {
			return nil
		}
		for _, n := range st.names {
			if v, ok := s.secret(n); ok {
				secrets = append(secrets, v)
			} else {
				s.unknown(st, n)
			}
		}
		if len(secrets) == 0 {
			return nil
		}
		version = SetVersion(secrets)
		if version == st.lastVersion {
			return nil
		}
		st.lastVersion, st.lastNonce = version, nonce
		out = EncodeDiscoveryResponse(version, nonce, secrets, ControlPlaneID)
	}
	st.inflight = &inflight{nonce: nonce, version: version}
	names := make([]string, len(secrets))
	for i, v := range secrets {
		names[i] = v.Name
	}
	protocol := "sotw"
	if st.delta {
		protocol = "delta"
	}
	s.log.Debug("secrets sent", "stream", st.id, "protocol", protocol, "node", st.node, "names", names, "version", version, "nonce", nonce)
	if err := ss.SendMsg(&out); err != nil {
		return err
	}
	return nil
}
