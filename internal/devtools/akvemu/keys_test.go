package akvemu_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"math/big"
	"net/http"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azkeys"

	"github.com/latchkey-dev/latchkey/internal/devtools/akvemu"
)

// assertPublicOnly fails if a JWK carries any private part.
func assertPublicOnly(t *testing.T, k *azkeys.JSONWebKey) {
	t.Helper()
	if k.D != nil || k.P != nil || k.Q != nil || k.DP != nil || k.DQ != nil || k.QI != nil || k.K != nil {
		t.Fatalf("key bundle has private parts: %+v", k)
	}
}

func TestCreateKey(t *testing.T) {
	s := akvemu.StartForTest(t, baseSeed())
	c := appAClients(t, s).keys
	tests := []struct {
		name    string
		kty     azkeys.KeyType
		size    int32
		curve   azkeys.CurveName
		wantErr bool
	}{
		{"rsa-default", azkeys.KeyTypeRSA, 0, "", false},
		{"rsa-3072", azkeys.KeyTypeRSA, 3072, "", false},
		{"rsa-4096", azkeys.KeyTypeRSA, 4096, "", false},
		{"rsa-hsm", azkeys.KeyTypeRSAHSM, 2048, "", false},
		{"ec-p256", azkeys.KeyTypeEC, 0, azkeys.CurveNameP256, false},
		{"ec-p384", azkeys.KeyTypeEC, 0, azkeys.CurveNameP384, false},
		{"ec-p521", azkeys.KeyTypeEC, 0, azkeys.CurveNameP521, false},
		{"ec-default", azkeys.KeyTypeEC, 0, "", false},
		{"rsa-1024", azkeys.KeyTypeRSA, 1024, "", true},
		{"ec-p256k", azkeys.KeyTypeEC, 0, azkeys.CurveNameP256K, true},
		{"oct", azkeys.KeyTypeOct, 0, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := azkeys.CreateKeyParameters{Kty: to.Ptr(tt.kty), Tags: map[string]*string{"t": to.Ptr("v")}}
			if tt.size != 0 {
				p.KeySize = to.Ptr(tt.size)
			}
			if tt.curve != "" {
				p.Curve = to.Ptr(tt.curve)
			}
			created, err := c.CreateKey(ctx(t), tt.name, p, nil)
			if tt.wantErr {
				responseError(t, err, http.StatusBadRequest, "BadParameter")
				return
			}
			if err != nil {
				t.Fatalf("CreateKey: %v", err)
			}
			got, err := c.GetKey(ctx(t), tt.name, "", nil)
			if err != nil {
				t.Fatalf("GetKey: %v", err)
			}
			k := got.Key
			assertPublicOnly(t, k)
			if *k.KID != *created.Key.KID || k.KID.Version() == "" || *k.Kty != tt.kty || *got.Tags["t"] != "v" {
				t.Fatalf("key %+v", k)
			}
			switch tt.kty {
			case azkeys.KeyTypeRSA, azkeys.KeyTypeRSAHSM:
				want := int(tt.size)
				if want == 0 {
					want = 2048
				}
				if bits := new(big.Int).SetBytes(k.N).BitLen(); bits != want || len(k.E) == 0 || len(k.KeyOps) != 6 {
					t.Fatalf("RSA key: %d bits, e %v, ops %d", bits, k.E, len(k.KeyOps))
				}
			default:
				want := tt.curve
				if want == "" {
					want = azkeys.CurveNameP256
				}
				if *k.Crv != want || len(k.X) == 0 || len(k.X) != len(k.Y) || len(k.KeyOps) != 2 {
					t.Fatalf("EC key: crv %s, x %d, y %d", *k.Crv, len(k.X), len(k.Y))
				}
			}
		})
	}
}

func TestImportKey(t *testing.T) {
	s := akvemu.StartForTest(t, baseSeed())
	c := appAClients(t, s).keys
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ecRaw, _ := ecKey.Bytes()
	ecPub, _ := ecKey.PublicKey.Bytes()
	rsaJWK := &azkeys.JSONWebKey{Kty: to.Ptr(azkeys.KeyTypeRSA), N: rsaKey.N.Bytes(), E: big.NewInt(int64(rsaKey.E)).Bytes(), D: rsaKey.D.Bytes(),
		P: rsaKey.Primes[0].Bytes(), Q: rsaKey.Primes[1].Bytes()}
	ecJWK := &azkeys.JSONWebKey{Kty: to.Ptr(azkeys.KeyTypeEC), Crv: to.Ptr(azkeys.CurveNameP256), X: ecPub[1:33], Y: ecPub[33:], D: ecRaw}
	for name, jwk := range map[string]*azkeys.JSONWebKey{"imported-rsa": rsaJWK, "imported-ec": ecJWK} {
		if _, err := c.ImportKey(ctx(t), name, azkeys.ImportKeyParameters{Key: jwk}, nil); err != nil {
			t.Fatalf("ImportKey %s: %v", name, err)
		}
		got, err := c.GetKey(ctx(t), name, "", nil)
		if err != nil {
			t.Fatal(err)
		}
		assertPublicOnly(t, got.Key)
	}
	got, _ := c.GetKey(ctx(t), "imported-rsa", "", nil)
	if new(big.Int).SetBytes(got.Key.N).Cmp(rsaKey.N) != 0 {
		t.Fatal("imported RSA modulus differs")
	}
	publicOnly := &azkeys.JSONWebKey{Kty: to.Ptr(azkeys.KeyTypeRSA), N: rsaKey.N.Bytes(), E: []byte{1, 0, 1}}
	_, err := c.ImportKey(ctx(t), "no-private-part", azkeys.ImportKeyParameters{Key: publicOnly}, nil)
	responseError(t, err, http.StatusBadRequest, "BadParameter")
}

func TestKeyVersionsPagingAndDisable(t *testing.T) {
	s := akvemu.StartForTest(t, baseSeed())
	c := appAClients(t, s).keys
	for range 27 {
		if _, err := c.CreateKey(ctx(t), "rotating", azkeys.CreateKeyParameters{Kty: to.Ptr(azkeys.KeyTypeEC)}, nil); err != nil {
			t.Fatal(err)
		}
	}
	var versions []string
	pages := 0
	for pager := c.NewListKeyPropertiesVersionsPager("rotating", nil); pager.More(); pages++ {
		page, err := pager.NextPage(ctx(t))
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range page.Value {
			versions = append(versions, p.KID.Version())
		}
	}
	if pages != 2 || len(versions) != 27 {
		t.Fatalf("%d pages, %d versions", pages, len(versions))
	}
	if _, err := c.UpdateKey(ctx(t), "rotating", versions[26], azkeys.UpdateKeyParameters{KeyAttributes: &azkeys.KeyAttributes{Enabled: to.Ptr(false)}}, nil); err != nil {
		t.Fatalf("UpdateKey: %v", err)
	}
	_, err := c.GetKey(ctx(t), "rotating", "", nil)
	responseError(t, err, http.StatusForbidden, "Forbidden")
	if _, err := c.GetKey(ctx(t), "rotating", versions[0], nil); err != nil {
		t.Fatalf("older version: %v", err)
	}
	keys := 0
	for pager := c.NewListKeyPropertiesPager(nil); pager.More(); {
		page, err := pager.NextPage(ctx(t))
		if err != nil {
			t.Fatal(err)
		}
		keys += len(page.Value)
	}
	if keys != 1 {
		t.Fatalf("keys listed: %d", keys)
	}
	if _, err := c.DeleteKey(ctx(t), "rotating", nil); err != nil {
		t.Fatalf("DeleteKey: %v", err)
	}
	_, err = c.GetKey(ctx(t), "rotating", versions[0], nil)
	responseError(t, err, http.StatusNotFound, "KeyNotFound")
	if _, err := c.PurgeDeletedKey(ctx(t), "rotating", nil); err != nil {
		t.Fatalf("PurgeDeletedKey: %v", err)
	}
}
