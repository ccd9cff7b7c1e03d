package resolver_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"

	"github.com/latchkey-dev/latchkey/internal/podcontract"
	"github.com/latchkey-dev/latchkey/internal/resolver"
)

// TestCABundlePublisher: every labelled namespace gets the CA bundle as
// a ConfigMap, a namespace labelled later too, a change of the bundle file
// reaches all of them, an edit is repaired, and unlabelled namespaces get
// nothing. A broken file keeps the last good bundle.
func TestCABundlePublisher(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	bundle := filepath.Join(dir, "ca-bundle.crt")
	if err := os.WriteFile(bundle, suite.pki.caPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	const name = "publisher-test-ca"
	early := createNamespace(t, "", true)
	plain := createNamespace(t, "", false)
	r := newResolver(t, func(c *resolver.Config) {
		c.CABundle, c.CAConfigMap, c.CABundlePoll = bundle, name, 20*time.Millisecond
	})
	late := createNamespace(t, "", false)
	label(t, late)

	holds := func(ns string, want []byte) {
		t.Helper()
		eventually(t, func() error {
			cm := &corev1.ConfigMap{}
			if err := suite.client.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: name}, cm); err != nil {
				return err
			}
			if cm.Data[podcontract.CABundleKey] != string(want) || cm.Labels[resolver.ManagedByLabel] != "latchkey" {
				return fmt.Errorf("ConfigMap %s/%s holds %.40q…", ns, name, cm.Data[podcontract.CABundleKey])
			}
			return nil
		})
	}
	holds(early, suite.pki.caPEM)
	holds(late, suite.pki.caPEM)

	// Rotation: the current and the next CA.
	next := append(bytes.Clone(suite.pki.caPEM), suite.pki.wrongCAPEM...)
	if err := os.WriteFile(bundle, next, 0o600); err != nil {
		t.Fatal(err)
	}
	holds(early, next)
	holds(late, next)

	// Someone edits it: repaired.
	cm := &corev1.ConfigMap{}
	if err := suite.client.Get(context.Background(), types.NamespacedName{Namespace: early, Name: name}, cm); err != nil {
		t.Fatal(err)
	}
	cm.Data[podcontract.CABundleKey] = "tampered"
	if err := suite.client.Update(context.Background(), cm); err != nil {
		t.Fatal(err)
	}
	holds(early, next)

	// A broken file: the last good bundle stays published.
	if err := os.WriteFile(bundle, []byte("not PEM"), 0o600); err != nil {
		t.Fatal(err)
	}
	logged(t, r, map[string]any{"msg": "CA bundle unreadable; the last good one stays published"})
	newer := createNamespace(t, "", false)
	label(t, newer)
	holds(newer, next)
	holds(early, next)

	err := suite.client.Get(context.Background(), types.NamespacedName{Namespace: plain, Name: name}, &corev1.ConfigMap{})
	if !apierrors.IsNotFound(err) {
		t.Errorf("an unlabelled namespace got the ConfigMap (%v)", err)
	}
}

// label opts namespace ns into injection.
func label(t *testing.T, ns string) {
	t.Helper()
	obj := &corev1.Namespace{}
	if err := suite.client.Get(context.Background(), types.NamespacedName{Name: ns}, obj); err != nil {
		t.Fatal(err)
	}
	if obj.Labels == nil {
		obj.Labels = map[string]string{}
	}
	obj.Labels[podcontract.DefaultNamespaceLabel] = "enabled"
	if err := suite.client.Update(context.Background(), obj); err != nil {
		t.Fatal(err)
	}
}

// TestServingCertificateReload: a new certificate in the folder is served
// to new connections without a restart.
func TestServingCertificateReload(t *testing.T) {
	t.Parallel()
	certDir := t.TempDir()
	if err := suite.pki.issue(certDir, "first"); err != nil {
		t.Fatal(err)
	}
	r := newResolver(t, func(c *resolver.Config) { c.CertDir = certDir })
	served := func() string {
		conn, err := tlsDial(r.Addr().String())
		if err != nil {
			return "error: " + err.Error()
		}
		defer func() { _ = conn.Close() }()
		return conn.ConnectionState().PeerCertificates[0].Subject.CommonName
	}
	if cn := served(); cn != "first" {
		t.Fatalf("serving %q", cn)
	}
	if err := suite.pki.issue(certDir, "second"); err != nil {
		t.Fatal(err)
	}
	eventually(t, func() error {
		if cn := served(); cn != "second" {
			return fmt.Errorf("still serving %q", cn)
		}
		return nil
	})
}
