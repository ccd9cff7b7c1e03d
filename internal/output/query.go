package output

import (
	"bytes"
	"fmt"

	"github.com/latchkey-dev/latchkey/internal/backend"
)

// Query answers an env injector placeholder, <akvs>@azurekeyvault?<query>:
//
//   - secret: no query gives the (transformed) value; username and password
//     split a "username:password" value (or its base64);
//   - certificate: no query and tls.crt give the public chain PEM, leaf
//     first; tls.key gives the private key PEM; tls.pem the private key and
//     then the chain, one PEM; raw gives the backing secret
//     as Key Vault stores it (base64 PFX text or PEM text, key included when
//     exportable);
//   - key: no query gives the PEM public key;
//   - multi-key-value-secret: the query names a top-level key.
//
// Any other query is ErrUnsupportedQuery (akv2k8s ignored unknown queries on
// certificates and keys, silently handing a certificate to a variable meant
// for a key). spec.Target and spec.SecretType are ignored.
func Query(spec Spec, obj backend.Object, query string) ([]byte, error) {
	spec, obj, err := selectKey(spec, obj)
	if err != nil {
		return nil, err
	}
	var v []byte
	switch spec.ObjectType {
	case ObjectSecret:
		v, err = querySecret(spec, obj.Value, query)
	case ObjectCertificate:
		v, err = queryCertificate(obj, query)
	case ObjectKey:
		if query != "" {
			err = unsupportedQuery(spec.ObjectType)
			break
		}
		v, err = publicKeyPEM(obj)
	case ObjectMultiKeyValueSecret:
		v, err = queryMultiKey(spec, obj.Value, query)
	default:
		return nil, fmt.Errorf("%w: %q", ErrUnsupportedObjectType, spec.ObjectType)
	}
	if err != nil {
		return nil, fmt.Errorf("query %q on %s object: %w", query, spec.ObjectType, err)
	}
	return bytes.Clone(v), nil
}

func querySecret(spec Spec, value []byte, query string) ([]byte, error) {
	value, err := applyTransforms(spec.Transforms, value)
	if err != nil {
		return nil, err
	}
	switch query {
	case "":
		return value, nil
	case KeyUsername, KeyPassword:
		user, password, err := splitBasicAuth(value)
		if err != nil {
			return nil, err
		}
		if query == KeyUsername {
			return user, nil
		}
		return password, nil
	}
	return nil, unsupportedQuery(spec.ObjectType)
}

func queryCertificate(obj backend.Object, query string) ([]byte, error) {
	switch query {
	case QueryRaw:
		// Text, not the PFX bytes an Opaque Secret gets: an environment
		// variable cannot hold the NUL bytes of DER.
		return obj.Value, nil
	case "", KeyTLSCert, KeyTLSPrivateKey, QueryKeyAndChain:
	default:
		return nil, unsupportedQuery(ObjectCertificate)
	}
	b, err := parseCertificate(obj)
	if err != nil {
		return nil, err
	}
	switch query {
	case KeyTLSPrivateKey:
		return privateKeyPEM(b)
	case QueryKeyAndChain:
		key, err := privateKeyPEM(b)
		if err != nil {
			return nil, err
		}
		return append(key, b.CertPEM()...), nil
	}
	return b.CertPEM(), nil
}

func queryMultiKey(spec Spec, doc []byte, query string) ([]byte, error) {
	if query == "" {
		return nil, fmt.Errorf("%w: name one of the document's top-level keys", ErrQueryRequired)
	}
	data, err := parseMultiKey(spec.ContentType, doc)
	if err != nil {
		return nil, err
	}
	v, ok := data[query]
	if !ok {
		return nil, fmt.Errorf("%w: the document has no such top-level key", ErrUnknownQueryKey)
	}
	return v, nil
}

func unsupportedQuery(objectType string) error {
	return fmt.Errorf("%w for %s objects", ErrUnsupportedQuery, objectType)
}
