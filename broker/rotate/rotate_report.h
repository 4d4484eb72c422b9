/* The rotation job's report and alerting hook. */
#ifndef KB_ROTATE_REPORT_H
#define KB_ROTATE_REPORT_H

#include <jansson.h>

#include "rotate/rotate.h"

/* {"status","exit","dry_run","duration_ms","credentials":[{name, action,
 * status, promoted, current/pending/previous {version, fingerprint,
 * key_type}, steps {load, create, promote}, hosts [{target, status, steps
 * {probe, set, test, remove}}]}]}; every step {status, duration_ms, note,
 * error}.  No secrets. */
json_t *kb_rot_report_json(struct kb_rot_cred *creds, size_t n, bool dry_run, int64_t ms, int exit_code);

/* 1 (KB_EXIT_FAILURE) when any failed, else 7 (KB_EXIT_PENDING) when any
 * is pending, else 0. */
int kb_rot_exit_code(const struct kb_rot_cred *creds, size_t n);

/* Runs command with /bin/sh -c (fork/exec), the JSON report on its stdin,
 * its stdout and stderr on our stderr, and BROKER_ROTATE_STATUS
 * (failed|pending), BROKER_ROTATE_EXIT, BROKER_ROTATE_FAILED and
 * BROKER_ROTATE_PENDING (credential names), BROKER_ROTATE_HOSTS
 * (target=status ...), BROKER_ROTATE_SUMMARY in its environment. */
int kb_rot_on_failure(const char *command, const struct kb_rot_cred *creds, size_t n, const char *report,
		      int exit_code);

#endif
