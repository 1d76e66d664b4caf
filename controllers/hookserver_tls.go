package controllers

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"

	v1 "github.com/tokenhook/tokenhook/api/v1alpha1"
)

// checkHookServerTLS checks the certificate Secret of spec.hookServer.tls
// before the Deployment mounts it: a missing Secret would leave new pods
// stuck in ContainerCreating, and a bad pair would crash them, while a clear
// condition and the old pods serving on is what the user needs.
func (r *TokenHookReconciler) checkHookServerTLS(ctx context.Context, th *v1.TokenHook) error {
	spec := th.Spec.HookServer.TLS
	if spec == nil {
		return nil
	}
	sec := &corev1.Secret{}
	if err := r.APIReader.Get(ctx, types.NamespacedName{Namespace: th.Namespace, Name: spec.SecretName}, sec); err != nil {
		if apierrors.IsNotFound(err) {
			return &specError{reason: v1.ReasonTLSSecretInvalid,
				msg: fmt.Sprintf("spec.hookServer.tls.secretName: Secret %q not found", spec.SecretName)}
		}
		return fmt.Errorf("get TLS Secret %q: %w", spec.SecretName, err)
	}
	return validateTLSSecret(spec.SecretName, sec.Data, r.Clock.Now())
}

// validateTLSSecret checks that the Secret holds a matching certificate and
// key that are valid now. Its messages name the Secret and key, never their
// contents.
func validateTLSSecret(name string, data map[string][]byte, now time.Time) error {
	invalid := func(format string, args ...any) error {
		return &specError{reason: v1.ReasonTLSSecretInvalid,
			msg: fmt.Sprintf("spec.hookServer.tls.secretName: Secret %q %s", name, fmt.Sprintf(format, args...))}
	}
	for _, key := range []string{corev1.TLSCertKey, corev1.TLSPrivateKeyKey} {
		if len(data[key]) == 0 {
			return invalid("has no key %q", key)
		}
	}
	pair, err := tls.X509KeyPair(data[corev1.TLSCertKey], data[corev1.TLSPrivateKeyKey])
	if err != nil {
		// crypto/tls's errors describe the problem, not the key material.
		return invalid("does not hold a PEM certificate and matching private key in %q and %q: %v",
			corev1.TLSCertKey, corev1.TLSPrivateKeyKey, err)
	}
	leaf := pair.Leaf
	if leaf == nil { // GODEBUG=x509keypairleaf=0
		if leaf, err = x509.ParseCertificate(pair.Certificate[0]); err != nil {
			return invalid("holds an unparsable certificate in %q: %v", corev1.TLSCertKey, err)
		}
	}
	switch {
	case now.After(leaf.NotAfter):
		return invalid("holds a certificate that expired at %s", leaf.NotAfter.UTC().Format(time.RFC3339))
	case now.Before(leaf.NotBefore):
		return invalid("holds a certificate that is not valid before %s", leaf.NotBefore.UTC().Format(time.RFC3339))
	}
	return nil
}
