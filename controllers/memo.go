package controllers

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"maps"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// A TokenHook is reconciled several times on its way to Ready (each object it
// creates, and the Deployment becoming available, brings it back), and once
// per drift period after. Most of those reconciles would apply objects
// already as they should be and re-read Secrets and ConfigMaps that have not
// changed: round trips that, with many TokenHooks, pace the whole operator.
// The memos below skip them when the informer cache shows the object as this
// process last applied or read it.

// appliedMemo remembers, for each object the controller applies, what it
// applied and the object the API server returned.
type appliedMemo struct {
	mu sync.Mutex
	m  map[appliedKey]appliedEntry
}

type appliedKey struct {
	gvk schema.GroupVersionKind
	types.NamespacedName
}

type appliedEntry struct {
	sum             [sha256.Size]byte // of the applied configuration
	uid             types.UID
	resourceVersion string
	generation      int64
	at              time.Time
}

// generationTracked kinds bump metadata.generation on every spec change,
// while their status changes often: for them an unchanged generation and
// metadata mean nobody changed what the controller applies.
var generationTracked = map[schema.GroupVersionKind]bool{
	appsv1.SchemeGroupVersion.WithKind("Deployment"):                     true,
	policyv1.SchemeGroupVersion.WithKind("PodDisruptionBudget"):          true,
	autoscalingv2.SchemeGroupVersion.WithKind("HorizontalPodAutoscaler"): true,
}

// applySum fingerprints an apply configuration.
func applySum(u map[string]any) ([sha256.Size]byte, error) {
	b, err := json.Marshal(u)
	if err != nil {
		return [sha256.Size]byte{}, err
	}
	return sha256.Sum256(b), nil
}

// unchanged says whether cached, the informer's copy of the object, is still
// the one the last apply of the same configuration returned: same object
// (UID), and either the same resourceVersion, or for generationTracked kinds
// the same generation and our labels and annotations in place. Entries older
// than maxAge do not count, so whatever the checks cannot see (a field
// changed without a new generation) is put back within that time.
func (m *appliedMemo) unchanged(key appliedKey, sum [sha256.Size]byte, want *unstructured.Unstructured, cached metav1.Object, now time.Time, maxAge time.Duration) bool {
	m.mu.Lock()
	e, ok := m.m[key]
	m.mu.Unlock()
	switch {
	case !ok || e.sum != sum || now.Sub(e.at) >= maxAge || cached.GetUID() != e.uid:
		return false
	case cached.GetResourceVersion() == e.resourceVersion:
		return true
	case !generationTracked[key.gvk] || cached.GetGeneration() != e.generation:
		return false
	}
	return containsAll(cached.GetLabels(), want.GetLabels()) && containsAll(cached.GetAnnotations(), want.GetAnnotations())
}

func containsAll(have, want map[string]string) bool {
	for k, v := range want {
		if got, ok := have[k]; !ok || got != v {
			return false
		}
	}
	return true
}

func (m *appliedMemo) record(key appliedKey, sum [sha256.Size]byte, live metav1.Object, now time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.m == nil {
		m.m = map[appliedKey]appliedEntry{}
	}
	m.m[key] = appliedEntry{sum: sum, uid: live.GetUID(), resourceVersion: live.GetResourceVersion(), generation: live.GetGeneration(), at: now}
}

// forget drops the entries of a namespace's objects with these names.
func (m *appliedMemo) forget(namespace string, names ...string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	maps.DeleteFunc(m.m, func(k appliedKey, _ appliedEntry) bool {
		for _, n := range names {
			if k.Namespace == namespace && k.Name == n {
				return true
			}
		}
		return false
	})
}

// cachedForSkip reads the informer's copy of an object the controller owns
// and watches: the whole object for the kinds it caches, metadata only for
// Secrets (whose data the manager does not cache). ok is false when the
// cache has no such object.
func (r *TokenHookReconciler) cachedForSkip(ctx context.Context, gvk schema.GroupVersionKind, key types.NamespacedName) (client.Object, bool) {
	var obj client.Object
	if gvk == corev1.SchemeGroupVersion.WithKind("Secret") {
		obj = secretMetadata()
	} else {
		ro, err := r.Scheme.New(gvk)
		if err != nil {
			return nil, false
		}
		if obj, _ = ro.(client.Object); obj == nil {
			return nil, false
		}
	}
	if err := r.Get(ctx, key, obj); err != nil {
		return nil, false
	}
	return obj, true
}

// toUnstructured converts a cached object for apply's callers.
func toUnstructured(obj client.Object) (*unstructured.Unstructured, error) {
	u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		return nil, err
	}
	return &unstructured.Unstructured{Object: u}, nil
}

// readMemo keeps what the controller made of an object it reads directly
// from the API server (a Secret's credentials, a ConfigMap's patient count),
// by the resourceVersion it read, so that while the metadata cache shows the
// object at that version the read and the work on it are skipped. Entries are
// small and one per object read; they go when the object is seen deleted.
type readMemo[T any] struct {
	mu sync.Mutex
	m  map[types.NamespacedName]readEntry[T]
}

type readEntry[T any] struct {
	resourceVersion string
	v               T
}

func (m *readMemo[T]) get(key types.NamespacedName, resourceVersion string) (T, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.m[key]
	if !ok || resourceVersion == "" || e.resourceVersion != resourceVersion {
		var zero T
		return zero, false
	}
	return e.v, true
}

func (m *readMemo[T]) put(key types.NamespacedName, resourceVersion string, v T) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.m == nil {
		m.m = map[types.NamespacedName]readEntry[T]{}
	}
	m.m[key] = readEntry[T]{resourceVersion: resourceVersion, v: v}
}

func (m *readMemo[T]) forget(key types.NamespacedName) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.m, key)
}

// cachedVersion is the resourceVersion the metadata cache shows for a
// Secret or ConfigMap, "" when it shows none.
func (r *TokenHookReconciler) cachedVersion(ctx context.Context, kind string, key types.NamespacedName) string {
	m := &metav1.PartialObjectMetadata{}
	m.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind(kind))
	if err := r.Get(ctx, key, m); err != nil {
		return ""
	}
	return m.GetResourceVersion()
}
