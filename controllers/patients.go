package controllers

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"

	v1 "github.com/tokenhook/tokenhook/api/v1alpha1"
	"github.com/tokenhook/tokenhook/hookserver/patients"
)

// reconcilePatients checks the patient list with the hook server's own
// parser. It only reports: the pods read the mounted ConfigMap themselves and
// keep serving their last good list when a new one is bad, so a bad edit
// leaves status.patients at the last good count and says why in the
// condition (with the line, never the data). A list already checked at the
// ConfigMap's current resourceVersion is neither read nor parsed again.
func (r *TokenHookReconciler) reconcilePatients(ctx context.Context, th *v1.TokenHook) error {
	ref := th.Spec.Patients.ConfigMapRef
	key := types.NamespacedName{Namespace: th.Namespace, Name: ref.Name}
	// A ConfigMap name holds no '/': the key names one list of one ConfigMap.
	memoKey := types.NamespacedName{Namespace: th.Namespace, Name: ref.Name + "/" + ref.Key}
	rv := r.cachedVersion(ctx, "ConfigMap", key)
	if rv == "" {
		r.patientsRead.forget(memoKey)
	}
	res, ok := r.patientsRead.get(memoKey, rv)
	if !ok {
		cm := &corev1.ConfigMap{}
		err := r.APIReader.Get(ctx, key, cm)
		switch {
		case apierrors.IsNotFound(err):
			res = patientsResult{reason: v1.ReasonConfigMapNotFound, msg: fmt.Sprintf("spec.patients.configMapRef: ConfigMap %q not found", ref.Name)}
		case err != nil:
			return fmt.Errorf("get patients ConfigMap %q: %w", ref.Name, err)
		default:
			res = checkPatients(cm, ref)
			r.patientsRead.put(memoKey, cm.ResourceVersion, res)
		}
	}
	if res.reason != v1.ReasonLoaded {
		setFalse(th, v1.ConditionPatientsLoaded, res.reason, res.msg)
		return nil
	}
	th.Status.Patients = res.count
	setTrue(th, v1.ConditionPatientsLoaded, v1.ReasonLoaded, res.msg)
	return nil
}

// patientsResult is what a check of a patient list found: the count, and
// the PatientsLoaded reason and message.
type patientsResult struct {
	count       int32
	reason, msg string
}

// checkPatients parses the list in the ConfigMap's key.
func checkPatients(cm *corev1.ConfigMap, ref v1.ConfigMapKeyRef) patientsResult {
	data, ok := cm.Data[ref.Key]
	if !ok {
		bin, isBinary := cm.BinaryData[ref.Key]
		if !isBinary {
			return patientsResult{reason: v1.ReasonConfigMapNotFound,
				msg: fmt.Sprintf("spec.patients.configMapRef: ConfigMap %q has no key %q", ref.Name, ref.Key)}
		}
		data = string(bin)
	}
	list, err := patients.Parse([]byte(data))
	if err != nil {
		return patientsResult{reason: v1.ReasonInvalidPatients,
			msg: fmt.Sprintf("ConfigMap %q key %q: %v; the hook server keeps serving its last good patient list", ref.Name, ref.Key, err)}
	}
	return patientsResult{count: int32(list.Len()), reason: v1.ReasonLoaded,
		msg: fmt.Sprintf("%d patients in ConfigMap %q key %q", list.Len(), ref.Name, ref.Key)}
}
