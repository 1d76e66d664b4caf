// Package testenv starts the local control plane (envtest's kube-apiserver and
// etcd) for integration tests, with the TokenHook CRD installed.
//
// The binaries come from $KUBEBUILDER_ASSETS, else from bin/k8s/<version>/ as
// hack/envtest.sh leaves them. When neither exists, tests skip, except under
// CI (CI set), where they fail: a green CI always means the suite ran.
package testenv

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	kruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	tokenhookv1alpha1 "github.com/tokenhook/tokenhook/api/v1alpha1"
)

// K8sVersion is the control plane version hack/envtest.sh provides.
const K8sVersion = "1.37.2"

// ErrNoControlPlane says that no kube-apiserver and etcd could be found.
var ErrNoControlPlane = errors.New("no envtest control plane: run 'make envtest' or set KUBEBUILDER_ASSETS")

// RepoRoot is the repository's top folder.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// Assets returns the folder that holds kube-apiserver, etcd and kubectl.
func Assets() (string, error) {
	if dir := os.Getenv("KUBEBUILDER_ASSETS"); dir != "" {
		return dir, nil
	}
	dir := filepath.Join(RepoRoot(), "bin", "k8s", K8sVersion)
	if _, err := os.Stat(filepath.Join(dir, "kube-apiserver")); err != nil {
		return "", ErrNoControlPlane
	}
	return dir, nil
}

// Scheme has the built-in Kubernetes types and the TokenHook API.
func Scheme() *kruntime.Scheme {
	s := kruntime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		panic(err)
	}
	if err := tokenhookv1alpha1.AddToScheme(s); err != nil {
		panic(err)
	}
	return s
}

// Codecs decodes manifests with Scheme.
func Codecs() serializer.CodecFactory { return serializer.NewCodecFactory(Scheme()) }

// New returns an environment with the generated CRDs, not yet started.
func New() (*envtest.Environment, error) {
	assets, err := Assets()
	if err != nil {
		return nil, err
	}
	return &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join(RepoRoot(), "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
		BinaryAssetsDirectory: assets,
		Scheme:                Scheme(),
	}, nil
}

// Start starts a control plane for one test and stops it when the test ends.
func Start(t testing.TB) (*envtest.Environment, *rest.Config) {
	t.Helper()
	env, err := New()
	if err != nil {
		Unavailable(t, err)
	}
	cfg, err := env.Start()
	if err != nil {
		t.Fatalf("start envtest control plane: %v", err)
	}
	t.Cleanup(func() {
		if err := env.Stop(); err != nil {
			t.Errorf("stop envtest control plane: %v", err)
		}
	})
	return env, cfg
}

// Unavailable skips the test, or fails it under CI.
func Unavailable(t testing.TB, err error) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatalf("CI is set, so the control plane is required: %v", err)
	}
	t.Skipf("skipping: %v", err)
}

// MainUnavailable is Unavailable for TestMain: it returns the exit code.
func MainUnavailable(err error) int {
	if os.Getenv("CI") != "" {
		fmt.Fprintf(os.Stderr, "CI is set, so the control plane is required: %v\n", err)
		return 1
	}
	fmt.Fprintf(os.Stderr, "skipping: %v\n", err)
	return 0
}
