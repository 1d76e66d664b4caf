package hookserver

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tokenhook/tokenhook/internal/selfsigned"

	"github.com/tokenhook/tokenhook/hookserver/protocol"
	"github.com/tokenhook/tokenhook/hookserver/volumetest"
)

// logBuffer collects the server's JSON logs.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

type testServer struct {
	url, metricsURL string
	client          *http.Client
	logs            *logBuffer
	stop            func() error
}

// startServer runs a Server on loopback until the test ends. Debounce is short
// so reloads show quickly.
func startServer(t *testing.T, opts Options) *testServer {
	t.Helper()
	logs := &logBuffer{}
	opts.Logger = slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	if opts.Claim == "" {
		opts.Claim = DefaultClaim
	}
	if opts.Tokens == nil {
		opts.Tokens = []protocol.Token{protocol.IDToken}
	}
	opts.Debounce = 10 * time.Millisecond
	srv, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	hookLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	metricsLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx, hookLn, metricsLn) }()
	scheme := "http"
	client := &http.Client{Timeout: 5 * time.Second}
	if opts.TLSCertFile != "" {
		scheme = "https"
		client.Transport = &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}
	}
	ts := &testServer{
		url:        scheme + "://" + hookLn.Addr().String(),
		metricsURL: "http://" + metricsLn.Addr().String() + MetricsPath,
		client:     client,
		logs:       logs,
	}
	var once sync.Once
	var stopErr error
	ts.stop = func() error {
		once.Do(func() {
			cancel()
			stopErr = <-done
		})
		return stopErr
	}
	t.Cleanup(func() {
		if err := ts.stop(); err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return ts
}

// call posts body to the hook with secret and returns the status and body.
func (s *testServer) call(t *testing.T, secret string, body []byte) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, s.url+DefaultPath, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", secret)
	res, err := s.client.Do(req)
	if err != nil {
		t.Fatalf("call: %v", err)
	}
	defer func() { _ = res.Body.Close() }()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, b
}

func (s *testServer) get(t *testing.T, url string) (int, string) {
	t.Helper()
	res, err := s.client.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer func() { _ = res.Body.Close() }()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// patientIDOf calls the hook for login with the right secret and returns the
// patient ID it adds, or "".
func (s *testServer) patientIDOf(t *testing.T, login string) string {
	t.Helper()
	status, body := s.call(t, testSecret, specEvent(t, withLogin(login)))
	if status != http.StatusOK {
		return ""
	}
	var r protocol.Response
	if err := json.Unmarshal(body, &r); err != nil || len(r.Commands) == 0 {
		t.Fatalf("200 body %s: %v", body, err)
	}
	return r.Commands[0].Value[0].Value.(string)
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// fixture is a directory with a patients file and a secret file.
type fixture struct {
	dir, patients, secret string
}

func newFixture(t *testing.T, patientsCSV string) fixture {
	t.Helper()
	dir := t.TempDir()
	f := fixture{dir: dir, patients: filepath.Join(dir, "patients.csv"), secret: filepath.Join(dir, "secret")}
	if patientsCSV != "" {
		writeFile(t, f.patients, patientsCSV)
	}
	writeFile(t, f.secret, testSecret+"\n")
	return f
}

func TestServerReadiness(t *testing.T) {
	f := newFixture(t, "") // no patients file yet
	s := startServer(t, Options{PatientsFile: f.patients, AuthSecretFiles: []string{f.secret}})
	if status, _ := s.get(t, s.url+HealthzPath); status != http.StatusOK {
		t.Errorf("/healthz = %d; want 200 from the start", status)
	}
	if status, _ := s.get(t, s.url+ReadyzPath); status != http.StatusServiceUnavailable {
		t.Errorf("/readyz = %d before any list; want 503", status)
	}
	if status, _ := s.call(t, testSecret, specEvent(t, nil)); status != http.StatusServiceUnavailable {
		t.Errorf("hook = %d before any list; want 503 (Okta issues the token unpatched)", status)
	}
	writeFile(t, f.patients, "login,patientID\n,1\n") // bad: still not ready
	time.Sleep(100 * time.Millisecond)
	if status, _ := s.get(t, s.url+ReadyzPath); status != http.StatusServiceUnavailable {
		t.Errorf("/readyz = %d after a bad list; want 503", status)
	}
	writeFile(t, f.patients, testPatients)
	eventually(t, "ready", func() bool { status, _ := s.get(t, s.url+ReadyzPath); return status == http.StatusOK })
	if got := s.patientIDOf(t, specLogin); got != "1235" {
		t.Errorf("patient ID = %q; want 1235", got)
	}
}

func TestServerPatientReloads(t *testing.T) {
	dir := t.TempDir()
	secret := filepath.Join(dir, "secret")
	writeFile(t, secret, testSecret)
	volume := filepath.Join(dir, "patients")
	if err := os.Mkdir(volume, 0o755); err != nil {
		t.Fatal(err)
	}
	writeVolume := func(csv string) {
		t.Helper()
		if err := volumetest.Write(volume, map[string][]byte{"patients.csv": []byte(csv)}); err != nil {
			t.Fatal(err)
		}
	}
	writeVolume("login,patientID\n" + specLogin + ",1\n")
	s := startServer(t, Options{PatientsFile: filepath.Join(volume, "patients.csv"), AuthSecretFiles: []string{secret}})
	eventually(t, "the first list serves", func() bool { return s.patientIDOf(t, specLogin) == "1" })

	// A ConfigMap update, as kubelet writes it.
	writeVolume("login,patientID\n" + specLogin + ",2\n")
	eventually(t, "the ..data swap is followed", func() bool { return s.patientIDOf(t, specLogin) == "2" })

	// A bad list: the last good one keeps serving.
	writeVolume("login,patientID\n" + specLogin + ",3\n" + specLogin + ",4\n")
	eventually(t, "the bad list is counted", func() bool {
		_, m := s.get(t, s.metricsURL)
		return strings.Contains(m, `tokenhook_hook_reloads_total{result="error",source="patients"} 1`)
	})
	if got := s.patientIDOf(t, specLogin); got != "2" {
		t.Errorf("after a bad list, patient ID = %q; want the last good list's 2", got)
	}
	if !strings.Contains(s.logs.String(), "line 3: duplicate login (first on line 2)") {
		t.Errorf("the bad list's line is not logged:\n%s", s.logs)
	}
	writeVolume("login,patientID\n" + specLogin + ",5\n")
	eventually(t, "a good list after a bad one serves", func() bool { return s.patientIDOf(t, specLogin) == "5" })

	_, m := s.get(t, s.metricsURL)
	for _, want := range []string{
		`tokenhook_hook_patients 1`,
		`tokenhook_hook_reloads_total{result="success",source="patients"} 3`,
		`tokenhook_hook_calls_total{outcome="patient"}`,
		`tokenhook_hook_last_good_load_timestamp_seconds{source="patients"}`,
		`tokenhook_hook_call_duration_seconds_bucket`,
	} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

func TestServerSecretRotation(t *testing.T) {
	const oldSecret, newSecret = "Basic b2xkOm9sZA==", "Basic bmV3Om5ldw=="
	f := newFixture(t, testPatients)
	second := filepath.Join(f.dir, "secret-next")
	writeFile(t, f.secret, oldSecret+"\n")
	writeFile(t, second, newSecret+"\n")
	s := startServer(t, Options{PatientsFile: f.patients, AuthSecretFiles: []string{f.secret, second}})
	eventually(t, "ready", func() bool { status, _ := s.get(t, s.url+ReadyzPath); return status == http.StatusOK })

	// Okta switches to the new secret while calls keep flowing: none may fail.
	var failed, calls atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			if status, _ := s.call(t, newSecret, specEvent(t, nil)); status != http.StatusOK {
				failed.Add(1)
			}
			calls.Add(1)
		}
	})
	for _, secret := range []string{oldSecret, newSecret} {
		if status, _ := s.call(t, secret, specEvent(t, nil)); status != http.StatusOK {
			t.Errorf("secret %q refused during rotation: %d", secret, status)
		}
	}
	// Retire the old secret: the file now holds the new one too.
	writeFile(t, f.secret, newSecret+"\n")
	eventually(t, "the old secret is refused", func() bool {
		status, _ := s.call(t, oldSecret, specEvent(t, nil))
		return status == http.StatusUnauthorized
	})
	// An empty file (caught mid-write) keeps the secrets in force.
	writeFile(t, f.secret, "")
	writeFile(t, second, "")
	eventually(t, "the empty files are counted", func() bool {
		_, m := s.get(t, s.metricsURL)
		return strings.Contains(m, `tokenhook_hook_reloads_total{result="error",source="auth_secrets"}`) &&
			!strings.Contains(m, `tokenhook_hook_reloads_total{result="error",source="auth_secrets"} 0`)
	})
	time.Sleep(50 * time.Millisecond)
	close(stop)
	wg.Wait()
	if failed.Load() > 0 || calls.Load() == 0 {
		t.Errorf("%d of %d calls with the new secret failed during rotation", failed.Load(), calls.Load())
	}
	if strings.Contains(s.logs.String(), "bmV3") || strings.Contains(s.logs.String(), "b2xk") {
		t.Errorf("a secret reached the logs:\n%s", s.logs)
	}
}

func TestServerTLSReload(t *testing.T) {
	f := newFixture(t, testPatients)
	certFile, keyFile := filepath.Join(f.dir, "tls.crt"), filepath.Join(f.dir, "tls.key")
	writeCert(t, certFile, keyFile, 1)
	s := startServer(t, Options{PatientsFile: f.patients, AuthSecretFiles: []string{f.secret},
		TLSCertFile: certFile, TLSKeyFile: keyFile})
	serial := func() int64 {
		// A new connection each time: the certificate is chosen at handshake.
		conn, err := tls.Dial("tcp", strings.TrimPrefix(s.url, "https://"), &tls.Config{InsecureSkipVerify: true})
		if err != nil {
			t.Fatalf("TLS dial: %v", err)
		}
		defer func() { _ = conn.Close() }()
		return conn.ConnectionState().PeerCertificates[0].SerialNumber.Int64()
	}
	if got := serial(); got != 1 {
		t.Fatalf("serial = %d; want 1", got)
	}
	eventually(t, "ready", func() bool { status, _ := s.get(t, s.url+ReadyzPath); return status == http.StatusOK })
	if got := s.patientIDOf(t, specLogin); got != "1235" {
		t.Errorf("over TLS, patient ID = %q", got)
	}
	writeCert(t, certFile, keyFile, 2)
	eventually(t, "the renewed certificate serves", func() bool { return serial() == 2 })

	// A broken pair keeps the last good one.
	writeFile(t, keyFile, "not a key")
	eventually(t, "the broken pair is counted", func() bool {
		_, m := s.get(t, s.metricsURL)
		return strings.Contains(m, `tokenhook_hook_reloads_total{result="error",source="tls_certificate"} 1`)
	})
	if got := serial(); got != 2 {
		t.Errorf("after a broken pair, serial = %d; want the last good 2", got)
	}
}

// writeCert writes a self-signed certificate for 127.0.0.1 with serial.
func writeCert(t *testing.T, certFile, keyFile string, serial int64) {
	t.Helper()
	c, err := selfsigned.New(selfsigned.Options{Hosts: []string{"127.0.0.1"}, Serial: serial, NotAfter: time.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	// Key first, then certificate, like a Secret update: the pair matches only at the end.
	writeFile(t, keyFile, string(c.KeyPEM))
	writeFile(t, certFile, string(c.CertPEM))
}

// TestLogsHoldNoPatientData runs every kind of call and reload, then searches
// the logs for the logins, patient IDs and secret involved.
func TestLogsHoldNoPatientData(t *testing.T) {
	const (
		login      = "log.canary.patient@example.com"
		visitor    = "log.canary.visitor@example.com"
		patientID  = "PID-LOG-CANARY-4242"
		badLogin   = "log.canary.bad@example.com"
		badPatient = "PID-LOG-CANARY-BAD"
	)
	f := newFixture(t, "login,patientID\n"+login+","+patientID+"\n")
	s := startServer(t, Options{PatientsFile: f.patients, AuthSecretFiles: []string{f.secret},
		Tokens: []protocol.Token{protocol.IDToken, protocol.AccessToken}, DenyNonPatients: true})
	eventually(t, "ready", func() bool { status, _ := s.get(t, s.url+ReadyzPath); return status == http.StatusOK })

	if got := s.patientIDOf(t, login); got != patientID {
		t.Fatalf("patient ID = %q", got)
	}
	s.call(t, testSecret, specEvent(t, withLogin(visitor)))                    // denied
	s.call(t, "Basic "+login, specEvent(t, withLogin(login)))                  // unauthorized
	s.call(t, testSecret, []byte(`{"eventType":"`+login+`"}`))                 // wrong event type
	s.call(t, testSecret, []byte(`{"data":{"context":"`+login+`"}}`))          // malformed
	s.call(t, testSecret, append([]byte(`{"x":"`+login), make([]byte, 10)...)) // syntax error
	writeFile(t, f.patients, "login,patientID\n"+badLogin+","+badPatient+"\n"+badLogin+",x\n")
	eventually(t, "the bad list is logged", func() bool { return strings.Contains(s.logs.String(), "duplicate login") })
	if err := s.stop(); err != nil {
		t.Fatal(err)
	}

	logs := s.logs.String()
	for _, secret := range []string{login, visitor, patientID, badLogin, badPatient, "LOG-CANARY", "log.canary", testSecret, "YWRtaW46"} {
		if strings.Contains(logs, secret) {
			t.Errorf("logs contain %q:\n%s", secret, logs)
		}
	}
	// The call log lines carry what operators need.
	var calls int
	for _, line := range strings.Split(strings.TrimSpace(logs), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line %q is not JSON: %v", line, err)
		}
		if rec["msg"] != "Token hook call" {
			continue
		}
		calls++
		for _, key := range []string{"time", "level", "outcome", "status", "latencyUs"} {
			if _, ok := rec[key]; !ok {
				t.Errorf("call log %s lacks %s", line, key)
			}
		}
		if rec["outcome"] == "patient" && rec["eventId"] != "3OWo4oo-QQ-rBWfRyTmQYw" {
			t.Errorf("call log %s lacks the eventId", line)
		}
	}
	if calls < 6 {
		t.Errorf("%d call log lines; want one per call", calls)
	}
}

func TestServerGracefulShutdown(t *testing.T) {
	f := newFixture(t, testPatients)
	s := startServer(t, Options{PatientsFile: f.patients, AuthSecretFiles: []string{f.secret},
		ShutdownDelay: 300 * time.Millisecond})
	eventually(t, "ready", func() bool { status, _ := s.get(t, s.url+ReadyzPath); return status == http.StatusOK })
	stopped := make(chan error, 1)
	go func() { stopped <- s.stop() }()
	// During the delay, readiness fails but calls are still answered.
	eventually(t, "readiness fails", func() bool { status, _ := s.get(t, s.url+ReadyzPath); return status == http.StatusServiceUnavailable })
	if got := s.patientIDOf(t, specLogin); got != "1235" {
		t.Errorf("during the shutdown delay, patient ID = %q; want 1235", got)
	}
	// ...and each answer closes its connection, so a kept-alive client
	// moves to another pod rather than calling this one until it exits.
	req, err := http.NewRequest(http.MethodPost, s.url+DefaultPath, bytes.NewReader(specEvent(t, withLogin(specLogin))))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", testSecret)
	res, err := s.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, res.Body)
	_ = res.Body.Close()
	if !res.Close {
		t.Errorf("during the shutdown delay, a call was answered without Connection: close (header %q)", res.Header.Get("Connection"))
	}
	select {
	case err := <-stopped:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after the context ended")
	}
}

func TestNewRejectsBadOptions(t *testing.T) {
	f := newFixture(t, testPatients)
	base := Options{PatientsFile: f.patients, AuthSecretFiles: []string{f.secret}, Claim: DefaultClaim,
		Tokens: []protocol.Token{protocol.IDToken}}
	cases := map[string]struct {
		edit    func(o *Options)
		wantErr string
	}{
		"reserved claim": {func(o *Options) { o.Claim = "auth_time" }, `claim "auth_time" is reserved by Okta in the ID token`},
		"no secret file": {func(o *Options) { o.AuthSecretFiles = nil }, "no secret file"},
		"missing secret": {func(o *Options) { o.AuthSecretFiles = []string{f.secret + ".missing"} }, "no such file"},
		"empty secret": {func(o *Options) {
			writeFile(t, f.secret+".empty", "\n")
			o.AuthSecretFiles = []string{f.secret + ".empty"}
		}, "holds no secret"},
		"no patients file":  {func(o *Options) { o.PatientsFile = "" }, "no patients file"},
		"half TLS":          {func(o *Options) { o.TLSCertFile = "x" }, "both a certificate file and a key file"},
		"path not absolute": {func(o *Options) { o.Path = "hook" }, "must start with /"},
		"path is a probe":   {func(o *Options) { o.Path = ReadyzPath }, "taken by a probe"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			o := base
			c.edit(&o)
			_, err := New(o)
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Errorf("New error = %v; want one containing %q", err, c.wantErr)
			}
		})
	}
}
