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
// condition (with the line, never the data).
func (r *TokenHookReconciler) reconcilePatients(ctx context.Context, th *v1.TokenHook) error {
	ref := th.Spec.Patients.ConfigMapRef
	cm := &corev1.ConfigMap{}
	if err := r.APIReader.Get(ctx, types.NamespacedName{Namespace: th.Namespace, Name: ref.Name}, cm); err != nil {
		if apierrors.IsNotFound(err) {
			setFalse(th, v1.ConditionPatientsLoaded, v1.ReasonConfigMapNotFound,
				fmt.Sprintf("spec.patients.configMapRef: ConfigMap %q not found", ref.Name))
			return nil
		}
		return fmt.Errorf("get patients ConfigMap %q: %w", ref.Name, err)
	}
	data, ok := cm.Data[ref.Key]
	if !ok {
		bin, isBinary := cm.BinaryData[ref.Key]
		if !isBinary {
			setFalse(th, v1.ConditionPatientsLoaded, v1.ReasonConfigMapNotFound,
				fmt.Sprintf("spec.patients.configMapRef: ConfigMap %q has no key %q", ref.Name, ref.Key))
			return nil
		}
		data = string(bin)
	}
	list, err := patients.Parse([]byte(data))
	if err != nil {
		setFalse(th, v1.ConditionPatientsLoaded, v1.ReasonInvalidPatients,
			fmt.Sprintf("ConfigMap %q key %q: %v; the hook server keeps serving its last good patient list", ref.Name, ref.Key, err))
		return nil
	}
	th.Status.Patients = int32(list.Len())
	setTrue(th, v1.ConditionPatientsLoaded, v1.ReasonLoaded,
		fmt.Sprintf("%d patients in ConfigMap %q key %q", list.Len(), ref.Name, ref.Key))
	return nil
}
