// Package sds is the agent's SDS server: Envoy in the same pod asks it, over a Unix socket, for
// the workload certificate ("default") and the mesh root ("ROOTCA"), Istio's names.
//
// This file holds the few protobuf messages SDS needs, encoded and decoded with protowire
// (field numbers are Envoy's: envoy/service/discovery/v3/discovery.proto,
// envoy/extensions/transport_sockets/tls/v3/{secret,common}.proto,
// envoy/config/core/v3/base.proto). Loading Envoy's generated types would cost every pod
// memory for three messages; fields not read here are skipped when decoding.
package sds

import (
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"
)

// SecretTypeURL is the only resource type this server serves.
const SecretTypeURL = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret"

// Status is google.rpc.Status as Envoy sends it in a NACK.
type Status struct {
	Code    int32
	Message string
}

// DiscoveryRequest is a state-of-the-world request (StreamSecrets, FetchSecrets).
type DiscoveryRequest struct {
	NodeID        string
	ResourceNames []string
	TypeURL       string
	ResponseNonce string
	ErrorDetail   *Status
}

// DeltaDiscoveryRequest is a delta request (DeltaSecrets).
type DeltaDiscoveryRequest struct {
	NodeID                  string
	TypeURL                 string
	Subscribe               []string
	Unsubscribe             []string
	InitialResourceVersions map[string]string
	ResponseNonce           string
	ErrorDetail             *Status
}

// EncodedSecret is a Secret serialised once; Version is a digest of its bytes.
type EncodedSecret struct {
	Name    string
	Version string
	Bytes   []byte
}

// each calls fn for every field of b, or reports why b is not a protobuf message.
func each(b []byte, fn func(num protowire.Number, typ protowire.Type, v []byte, n uint64) error) error {
	for len(b) > 0 {
		num, typ, l := protowire.ConsumeTag(b)
		if l < 0 {
			return protowire.ParseError(l)
		}
		b = b[l:]
		var v []byte
		var n uint64
		switch typ {
		case protowire.BytesType:
			v, l = protowire.ConsumeBytes(b)
		case protowire.VarintType:
			n, l = protowire.ConsumeVarint(b)
		default:
			l = protowire.ConsumeFieldValue(num, typ, b)
		}
		if l < 0 {
			return protowire.ParseError(l)
		}
		b = b[l:]
		if err := fn(num, typ, v, n); err != nil {
			return err
		}
	}
	return nil
}

func decodeNodeID(b []byte) (id string, err error) {
	err = each(b, func(num protowire.Number, typ protowire.Type, v []byte, _ uint64) error {
		if num == 1 && typ == protowire.BytesType {
			id = string(v)
		}
		return nil
	})
	return id, err
}

func decodeStatus(b []byte) (*Status, error) {
	s := &Status{}
	err := each(b, func(num protowire.Number, typ protowire.Type, v []byte, n uint64) error {
		switch {
		case num == 1 && typ == protowire.VarintType:
			s.Code = int32(n)
		case num == 2 && typ == protowire.BytesType:
			s.Message = string(v)
		}
		return nil
	})
	return s, err
}

// DecodeDiscoveryRequest reads envoy.service.discovery.v3.DiscoveryRequest.
func DecodeDiscoveryRequest(b []byte) (*DiscoveryRequest, error) {
	r := &DiscoveryRequest{}
	err := each(b, func(num protowire.Number, typ protowire.Type, v []byte, _ uint64) error {
		if typ != protowire.BytesType {
			return nil
		}
		var err error
		switch num {
		case 2:
			r.NodeID, err = decodeNodeID(v)
		case 3:
			r.ResourceNames = append(r.ResourceNames, string(v))
		case 4:
			r.TypeURL = string(v)
		case 5:
			r.ResponseNonce = string(v)
		case 6:
			r.ErrorDetail, err = decodeStatus(v)
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("not a DiscoveryRequest: %w", err)
	}
	return r, nil
}

// DecodeDeltaDiscoveryRequest reads envoy.service.discovery.v3.DeltaDiscoveryRequest.
func DecodeDeltaDiscoveryRequest(b []byte) (*DeltaDiscoveryRequest, error) {
	r := &DeltaDiscoveryRequest{InitialResourceVersions: map[string]string{}}
	err := each(b, func(num protowire.Number, typ protowire.Type, v []byte, _ uint64) error {
		if typ != protowire.BytesType {
			return nil
		}
		var err error
		switch num {
		case 1:
			r.NodeID, err = decodeNodeID(v)
		case 2:
			r.TypeURL = string(v)
		case 3:
			r.Subscribe = append(r.Subscribe, string(v))
		case 4:
			r.Unsubscribe = append(r.Unsubscribe, string(v))
		case 5: // map<string, string> entry: key 1, value 2
			var key, value string
			err = each(v, func(num protowire.Number, typ protowire.Type, v []byte, _ uint64) error {
				if typ == protowire.BytesType && num == 1 {
					key = string(v)
				} else if typ == protowire.BytesType && num == 2 {
					value = string(v)
				}
				return nil
			})
			r.InitialResourceVersions[key] = value
		case 6:
			r.ResponseNonce = string(v)
		case 7:
			r.ErrorDetail, err = decodeStatus(v)
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("not a DeltaDiscoveryRequest: %w", err)
	}
	return r, nil
}

func appendString(b []byte, num protowire.Number, s string) []byte {
	if s == "" {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendString(b, s)
}

func appendBytes(b []byte, num protowire.Number, v []byte) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendBytes(b, v)
}

// dataSource is envoy.config.core.v3.DataSource with inline_bytes (2).
func dataSource(pem []byte) []byte { return appendBytes(nil, 2, pem) }

// EncodeTLSSecret is a Secret with tls_certificate (2): certificate_chain (1), private_key (2).
func EncodeTLSSecret(name string, chainPEM, keyPEM []byte) []byte {
	tls := appendBytes(nil, 1, dataSource(chainPEM))
	tls = appendBytes(tls, 2, dataSource(keyPEM))
	return appendBytes(appendString(nil, 1, name), 2, tls)
}

// EncodeValidationSecret is a Secret with validation_context (4): trusted_ca (1).
func EncodeValidationSecret(name string, rootPEM []byte) []byte {
	return appendBytes(appendString(nil, 1, name), 4, appendBytes(nil, 1, dataSource(rootPEM)))
}

func anySecret(s EncodedSecret) []byte {
	return appendBytes(appendString(nil, 1, SecretTypeURL), 2, s.Bytes)
}

func controlPlane(id string) []byte { return appendString(nil, 1, id) }

// EncodeDiscoveryResponse writes envoy.service.discovery.v3.DiscoveryResponse.
func EncodeDiscoveryResponse(version, nonce string, secrets []EncodedSecret, controlPlaneID string) []byte {
	b := appendString(nil, 1, version)
	for _, s := range secrets {
		b = appendBytes(b, 2, anySecret(s))
	}
	b = appendString(b, 4, SecretTypeURL)
	b = appendString(b, 5, nonce)
	return appendBytes(b, 6, controlPlane(controlPlaneID))
}

// EncodeDeltaDiscoveryResponse writes envoy.service.discovery.v3.DeltaDiscoveryResponse.
func EncodeDeltaDiscoveryResponse(systemVersion, nonce string, secrets []EncodedSecret, removed []string, controlPlaneID string) []byte {
	b := appendString(nil, 1, systemVersion)
	for _, s := range secrets {
		// Resource: version (1), resource (2), name (3).
		r := appendString(nil, 1, s.Version)
		r = appendBytes(r, 2, anySecret(s))
		r = appendString(r, 3, s.Name)
		b = appendBytes(b, 2, r)
	}
	b = appendString(b, 4, SecretTypeURL)
	b = appendString(b, 5, nonce)
	for _, n := range removed {
		b = appendBytes(b, 6, []byte(n))
	}
	return appendBytes(b, 7, controlPlane(controlPlaneID))
}
