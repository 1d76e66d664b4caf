// Package v1alpha1 contains the TokenHook API: one TokenHook deploys a hook
// server for an Okta token inline hook, registers the hook in an Okta org and
// links it to an authorization server policy rule.
//
// +kubebuilder:object:generate=true
// +groupName=tokenhook.io
package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// GroupVersion is the group and version of this API.
var GroupVersion = schema.GroupVersion{Group: "tokenhook.io", Version: "v1alpha1"}

var (
	schemeBuilder = runtime.NewSchemeBuilder(addKnownTypes)

	// AddToScheme adds this API's types to a scheme.
	AddToScheme = schemeBuilder.AddToScheme
)

func addKnownTypes(scheme *runtime.Scheme) error {
	scheme.AddKnownTypes(GroupVersion, &TokenHook{}, &TokenHookList{})
	metav1.AddToGroupVersion(scheme, GroupVersion)
	return nil
}
