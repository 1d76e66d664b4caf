package controllers

import (
	"fmt"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/tokenhook/tokenhook/api/v1alpha1"
)

// stageConditions are the conditions Ready is derived from, in reconcile order.
var stageConditions = []string{
	v1.ConditionHookServerAvailable,
	v1.ConditionPatientsLoaded,
	v1.ConditionInlineHookRegistered,
	v1.ConditionHookReachable,
	v1.ConditionPolicyRuleLinked,
}

// setCondition records a condition for the TokenHook's current generation.
// meta.SetStatusCondition keeps LastTransitionTime unless the status changes,
// so an unchanged condition never causes a status write.
func setCondition(th *v1.TokenHook, condType string, status metav1.ConditionStatus, reason, message string) {
	meta.SetStatusCondition(&th.Status.Conditions, metav1.Condition{
		Type:               condType,
		Status:             status,
		Reason:             reason,
		Message:            message,
		ObservedGeneration: th.Generation,
	})
}

func setTrue(th *v1.TokenHook, condType, reason, message string) {
	setCondition(th, condType, metav1.ConditionTrue, reason, message)
}

func setFalse(th *v1.TokenHook, condType, reason, message string) {
	setCondition(th, condType, metav1.ConditionFalse, reason, message)
}

// setWaiting marks a stage Unknown: it waits for an earlier one.
func setWaiting(th *v1.TokenHook, condType, message string) {
	setCondition(th, condType, metav1.ConditionUnknown, v1.ReasonWaiting, message)
}

// setReady derives Ready from the stage conditions: True when all are True,
// else False naming the first one that is not.
func setReady(th *v1.TokenHook) {
	if th.Spec.Suspend {
		setFalse(th, v1.ConditionReady, v1.ReasonSuspended, "spec.suspend is true: no changes are made in Okta or to the hook server")
		return
	}
	for _, t := range stageConditions {
		c := meta.FindStatusCondition(th.Status.Conditions, t)
		if c == nil {
			setFalse(th, v1.ConditionReady, v1.ReasonNotReady, t+" is not yet known")
			return
		}
		if c.Status != metav1.ConditionTrue {
			setFalse(th, v1.ConditionReady, v1.ReasonNotReady, t+" is "+string(c.Status)+": "+c.Message)
			return
		}
		if c.ObservedGeneration != th.Generation {
			// True, but for a spec that is no longer the current one.
			setFalse(th, v1.ConditionReady, v1.ReasonNotReady, fmt.Sprintf("%s was last confirmed for generation %d, not the current %d",
				t, c.ObservedGeneration, th.Generation))
			return
		}
	}
	setTrue(th, v1.ConditionReady, v1.ReasonReady, "the hook server is available, Okta's call reaches it, and the policy rule calls it")
}

// oktaConditionsCurrent says whether every Okta stage condition was set for
// the TokenHook's current generation.
func oktaConditionsCurrent(th *v1.TokenHook) bool {
	for _, t := range []string{v1.ConditionInlineHookRegistered, v1.ConditionHookReachable, v1.ConditionPolicyRuleLinked} {
		c := meta.FindStatusCondition(th.Status.Conditions, t)
		if c == nil || c.ObservedGeneration != th.Generation {
			return false
		}
	}
	return true
}

func isTrue(th *v1.TokenHook, condType string) bool {
	return meta.IsStatusConditionTrue(th.Status.Conditions, condType)
}
