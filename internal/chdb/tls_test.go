package chdb

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/bacgiang/cds/internal/chserver"
)

// TestOpenTLS starts the real clickhouse-server with a secure native port
// and a self-signed certificate made for the test (a config.d file next to
// the managed server's config), and connects through a DSN with
// secure=true: with --clickhouse-ca (CAFile) the certificate is verified;
// without it the connection is refused as unknown authority.
func TestOpenTLS(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := selfSigned(t, dir)
	ports := freePorts(t, 3)
	if err := os.MkdirAll(filepath.Join(dir, "config.d"), 0o755); err != nil {
		t.Fatal(err)
	}
	tlsConf := fmt.Sprintf(`<yandex>
  <tcp_port_secure>%d</tcp_port_secure>
  <openSSL><server>
    <certificateFile>%s</certificateFile>
    <privateKeyFile>%s</privateKeyFile>
    <verificationMode>none</verificationMode>
    <loadDefaultCAFile>false</loadDefaultCAFile>
    <cacheSessions>true</cacheSessions>
    <disableProtocols>sslv2,sslv3</disableProtocols>
    <preferServerCiphers>true</preferServerCiphers>
  </server></openSSL>
</yandex>
`, ports[2], certFile, keyFile)
	if err := os.WriteFile(filepath.Join(dir, "config.d", "tls.xml"), []byte(tlsConf), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	srv, err := chserver.Start(ctx, chserver.Config{
		Dir:      dir,
		TCPAddr:  "127.0.0.1:" + strconv.Itoa(ports[0]),
		HTTPAddr: "127.0.0.1:" + strconv.Itoa(ports[1]),
		NoAdopt:  true,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	secure := "127.0.0.1:" + strconv.Itoa(ports[2])
	waitListening(t, secure)

	db, err := Open(ctx, Config{Addr: "clickhouse://default@" + secure + "/cds?secure=true", CAFile: certFile})
	if err != nil {
		t.Fatalf("TLS with the CA: %v", err)
	}
	defer db.Close()
	v, err := db.Version()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("TLS to clickhouse-server %s at %s", v, secure)
	if _, err := Open(ctx, Config{Addr: "clickhouse://default@" + secure + "/cds?secure=true", DialTimeout: 3 * time.Second}); err == nil {
		t.Fatal("TLS without the CA: connected to a self-signed server")
	}
}

// selfSigned writes a certificate for 127.0.0.1 and its key into dir.
func selfSigned(tb testing.TB, dir string) (certFile, keyFile string) {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "cds test clickhouse"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		tb.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		tb.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		tb.Fatal(err)
	}
	return certFile, keyFile
}

func freePorts(tb testing.TB, n int) []int {
	tb.Helper()
	var out []int
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			tb.Fatal(err)
		}
		defer ln.Close()
		out = append(out, ln.Addr().(*net.TCPAddr).Port)
	}
	return out
}

// waitListening polls addr until it accepts a connection (10s at most).
func waitListening(tb testing.TB, addr string) {
	tb.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("%s does not accept connections: %v", addr, err)
		}
		time.Sleep(20 * time.Millisecond) // polling interval
	}
}
