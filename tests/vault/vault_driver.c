/* Test driver for the Vault backend: calls the backend's operations
 * directly (no CLI in between) so tests can race writers in one process
 * and watch token renewal inside one long-lived store handle.
 *
 *   vault-driver put NAME FILE [pending] [TOKEN]   prints the version
 *   vault-driver get NAME [current|pending|previous|VERSION]
 *   vault-driver promote NAME VERSION
 *   vault-driver describe NAME                     "id stages" lines
 *   vault-driver ls [PREFIX]
 *   vault-driver rm NAME
 *   vault-driver race NAME WRITERS PUTS            threads put concurrently
 *   vault-driver renew NAME SECONDS                put, wait, get; prints
 *                                                  "logins=N renewals=M"
 * Settings come from the environment (VAULT_ADDR, VAULT_TOKEN, ...). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/err.h"
#include "core/mem.h"
#include "core/util.h"
#include "config.h"
#include "ctx.h"
#include "store/store.h"
#include "vault/vault_client.h"

struct vault_store_view {
	struct kb_vault_client c; /* first member of the backend's impl */
};

static int fail(int r, const char *what)
{
	fprintf(stderr, "vault-driver: %s: %s%s%s\n", what, kb_err_str(r), *kb_err_detail() ? ": " : "",
		kb_err_detail());
	return kb_exit_for(r);
}

struct race_arg {
	struct kb_store *s;
	const char *name;
	int id, puts, failures;
	char versions[64][24];
};

static void *racer(void *p)
{
	struct race_arg *a = p;
	for (int i = 0; i < a->puts; i++) {
		char val[64], *ver = NULL;
		snprintf(val, sizeof(val), "writer-%d-put-%d", a->id, i);
		int r = a->s->ops->put(a->s, a->name, (const uint8_t *)val, strlen(val), NULL, &ver);
		if (r != KB_OK) {
			fprintf(stderr, "writer %d put %d: %s: %s\n", a->id, i, kb_err_str(r), kb_err_detail());
			a->failures++;
		} else {
			snprintf(a->versions[i], sizeof(a->versions[i]), "%s", ver);
		}
		free(ver);
	}
	return NULL;
}

static int print_value(struct kb_store *s, const char *name, const struct kb_store_sel *sel)
{
	struct kb_buf out;
	char *ver = NULL;
	kb_buf_init_secure(&out, KB_STORE_VALUE_MAX);
	int r = s->ops->get(s, name, sel, &out, &ver);
	if (r == KB_OK) {
		fwrite(kb_buf_ptr(&out), 1, kb_buf_remaining(&out), stdout);
		fprintf(stderr, "version %s\n", ver);
	}
	free(ver);
	kb_buf_done(&out);
	return r;
}

int main(int argc, char **argv)
{
	struct kb_store *s = NULL;
	struct kb_config *cfg = NULL;
	int r, rc = 0;

	if (argc < 2 || kb_init() != 0)
		return 2;
	kb_json_use_wiping_alloc();
	/* The broker's own config loading: BROKER_CONFIG, then VAULT_* env. */
	if ((r = kb_config_load(NULL, &cfg)) != KB_OK)
		return fail(r, "config");
	if ((r = kb_store_vault_open(cfg, &s)) != KB_OK) {
		kb_config_free(cfg);
		return fail(r, "open");
	}
	const char *cmd = argv[1], *name = argc > 2 ? argv[2] : "";
	if (strcmp(cmd, "put") == 0 && argc >= 4) {
		struct kb_buf in;
		struct kb_store_put_opts o = { KB_STAGE_CURRENT, NULL, NULL };
		char *ver = NULL;
		if (argc > 4 && strcmp(argv[4], "pending") == 0)
			o.stage = KB_STAGE_PENDING;
		if (argc > 5)
			o.token = argv[5];
		kb_buf_init_secure(&in, KB_STORE_VALUE_MAX);
		r = kb_read_file(argv[3], KB_STORE_VALUE_MAX, &in);
		if (r == KB_OK)
			r = s->ops->put(s, name, kb_buf_ptr(&in), kb_buf_remaining(&in), &o, &ver);
		if (r == KB_OK)
			printf("%s\n", ver);
		free(ver);
		kb_buf_done(&in);
	} else if (strcmp(cmd, "get") == 0 && argc >= 3) {
		struct kb_store_sel sel = { KB_STAGE_CURRENT, NULL };
		if (argc > 3) {
			if (strcmp(argv[3], "pending") == 0)
				sel.stage = KB_STAGE_PENDING;
			else if (strcmp(argv[3], "previous") == 0)
				sel.stage = KB_STAGE_PREVIOUS;
			else if (strcmp(argv[3], "current") != 0)
				sel.version = argv[3];
		}
		r = print_value(s, name, &sel);
	} else if (strcmp(cmd, "promote") == 0 && argc == 4) {
		r = s->ops->promote(s, name, argv[3]);
	} else if (strcmp(cmd, "describe") == 0 && argc == 3) {
		struct kb_secret_info *info = NULL;
		r = s->ops->describe(s, name, &info);
		for (size_t i = 0; r == KB_OK && i < info->nversions; i++)
			printf("%s%s%s%s\n", info->versions[i].id,
			       info->versions[i].stages & KB_STAGE_CURRENT ? " current" : "",
			       info->versions[i].stages & KB_STAGE_PENDING ? " pending" : "",
			       info->versions[i].stages & KB_STAGE_PREVIOUS ? " previous" : "");
		if (info != NULL) {
			free(info->name);
			free(info->versions);
			free(info);
		}
	} else if (strcmp(cmd, "ls") == 0) {
		char **names = NULL;
		size_t n = 0;
		r = s->ops->list(s, name, &names, &n);
		for (size_t i = 0; i < n; i++) {
			printf("%s\n", names[i]);
			free(names[i]);
		}
		free(names);
	} else if (strcmp(cmd, "rm") == 0 && argc == 3) {
		r = s->ops->remove(s, name);
	} else if (strcmp(cmd, "race") == 0 && argc == 5) {
		int writers = (int)strtol(argv[3], NULL, 10), puts = (int)strtol(argv[4], NULL, 10);
		struct race_arg args[16];
		pthread_t th[16];
		if (writers < 1 || writers > 16 || puts < 1 || puts > 64)
			return 2;
		for (int i = 0; i < writers; i++) {
			memset(&args[i], 0, sizeof(args[i]));
			args[i].name = name;
			args[i].id = i;
			args[i].puts = puts;
			/* One store handle per writer, like separate brokers. */
			if ((r = kb_store_vault_open(cfg, &args[i].s)) != KB_OK)
				return fail(r, "open");
			pthread_create(&th[i], NULL, racer, &args[i]);
		}
		r = KB_OK;
		for (int i = 0; i < writers; i++) {
			pthread_join(th[i], NULL);
			for (int j = 0; j < puts; j++)
				if (args[i].versions[j][0])
					printf("writer-%d-put-%d %s\n", i, j, args[i].versions[j]);
			if (args[i].failures)
				r = KB_ERR_CONFLICT;
			args[i].s->ops->close(args[i].s);
		}
	} else if (strcmp(cmd, "renew") == 0 && argc == 4) {
		struct kb_vault_client *c = &((struct vault_store_view *)s->impl)->c;
		struct kb_store_sel sel = { KB_STAGE_CURRENT, NULL };
		/* As if this process had been running for a while already. */
		if (getenv("VDRIVER_LOOKUP_NOW") != NULL)
			c->lookup_after_ms = 0;
		char *ver = NULL;
		r = s->ops->put(s, name, (const uint8_t *)"renew-me", 8, NULL, &ver);
		free(ver);
		for (long left = strtol(argv[3], NULL, 10); r == KB_OK && left > 0; left--) {
			sleep(1);
			r = print_value(s, name, &sel);
			printf("\n");
		}
		printf("logins=%u renewals=%u\n", c->logins, c->renewals);
	} else {
		fprintf(stderr, "vault-driver: bad usage\n");
		rc = 2;
	}
	if (rc == 0 && r != KB_OK)
		rc = fail(r, cmd);
	s->ops->close(s);
	kb_config_free(cfg);
	return rc;
}
