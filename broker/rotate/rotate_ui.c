/* Progress of a rotation job on stderr: on a terminal, a block with one
 * line per target and a column per step, redrawn in place; otherwise
 * (logs, cron mail, journald) one plain line per finished step. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rotate/rotate.h"

#define TTY_MAX_HOSTS 60

struct kb_rot_ui {
	bool tty;
	bool quiet;
	size_t drawn; /* lines of the current block on screen */
	bool block;   /* the current credential is drawn as a block */
};

struct kb_rot_ui *kb_rot_ui_new(bool tty, bool quiet)
{
	struct kb_rot_ui *ui = calloc(1, sizeof(*ui));
	if (ui) {
		ui->tty = tty;
		ui->quiet = quiet;
	}
	return ui;
}

void kb_rot_ui_free(struct kb_rot_ui *ui)
{
	free(ui);
}

static const char *sym(enum kb_rot_status s)
{
	switch (s) {
	case KB_ROT_NOTRUN: return "\033[2m·\033[0m";
	case KB_ROT_RUNNING: return "\033[33m…\033[0m";
	case KB_ROT_OK: return "\033[32m✓\033[0m";
	case KB_ROT_SKIPPED: return "\033[2m-\033[0m";
	case KB_ROT_WOULD: return "\033[36m~\033[0m";
	case KB_ROT_UNREACHABLE: return "\033[33m?\033[0m";
	case KB_ROT_FAILED: return "\033[31m✗\033[0m";
	}
	return "?";
}

static void draw(struct kb_rot_ui *ui, const struct kb_rot_cred *rc)
{
	if (ui->drawn > 0)
		fprintf(stderr, "\033[%zuA", ui->drawn);
	fprintf(stderr, "\r\033[K%s  [%s]  create %s  promote %s\n", rc->name, rc->action, sym(rc->create.st),
		sym(rc->promote.st));
	for (size_t i = 0; i < rc->nhosts; i++) {
		const struct kb_rot_host *h = &rc->hosts[i];
		const char *err = "";
		for (int k = 0; k < KB_ROT_NHSTEPS; k++)
			if (h->step[k].detail[0])
				err = h->step[k].detail;
		fprintf(stderr, "\r\033[K  %-30s", h->label);
		for (int k = 0; k < KB_ROT_NHSTEPS; k++)
			fprintf(stderr, " %s %s", kb_rot_hstep_name((enum kb_rot_hstep)k), sym(h->step[k].st));
		fprintf(stderr, "  %.100s\n", err);
	}
	ui->drawn = rc->nhosts + 1;
	fflush(stderr);
}

void kb_rot_ui_begin(struct kb_rot_ui *ui, const struct kb_rot_cred *rc)
{
	if (ui->quiet)
		return;
	ui->drawn = 0;
	ui->block = ui->tty;
	if (!ui->tty)
		fprintf(stderr, "broker: rotate: %s: start\n", rc->name);
}

static void plain(const struct kb_rot_cred *rc, const struct kb_rot_host *h, const char *step,
		  const struct kb_rot_step *s)
{
	fprintf(stderr, "broker: rotate: %s%s%s %s: %s", rc->name, h ? " " : "", h ? h->label : "", step,
		kb_rot_status_name(s->st));
	if (s->note[0] && s->st != KB_ROT_FAILED && s->st != KB_ROT_UNREACHABLE)
		fprintf(stderr, " (%s)", s->note);
	if (s->ms > 0)
		fprintf(stderr, " [%lld ms]", (long long)s->ms);
	if (s->detail[0])
		fprintf(stderr, ": %s", s->detail);
	fputc('\n', stderr);
}

void kb_rot_ui_update(struct kb_rot_ui *ui, const struct kb_rot_cred *rc, const struct kb_rot_host *h,
		      const char *step, const struct kb_rot_step *s)
{
	if (ui->quiet)
		return;
	if (ui->block && rc->nhosts > 0 && rc->nhosts <= TTY_MAX_HOSTS) {
		draw(ui, rc);
		return;
	}
	if (s->st == KB_ROT_RUNNING || s->st == KB_ROT_NOTRUN)
		return;
	plain(rc, h, step, s);
}

void kb_rot_ui_end(struct kb_rot_ui *ui, const struct kb_rot_cred *rc)
{
	if (ui->quiet)
		return;
	if (ui->block && rc->nhosts > 0 && rc->nhosts <= TTY_MAX_HOSTS) {
		draw(ui, rc);
		for (size_t i = 0; i < rc->nhosts; i++)
			for (int k = 0; k < KB_ROT_NHSTEPS; k++)
				if (rc->hosts[i].step[k].detail[0])
					fprintf(stderr, "  %s %s: %s\n", rc->hosts[i].label,
						kb_rot_hstep_name((enum kb_rot_hstep)k), rc->hosts[i].step[k].detail);
	}
	if (rc->load.detail[0])
		fprintf(stderr, "broker: rotate: %s: %s\n", rc->name, rc->load.detail);
	const char *why = rc->create.detail[0] ? rc->create.detail : rc->promote.detail;
	fprintf(stderr, "broker: %s: %s: %s (%s, %lld ms)%s%s\n", strcmp(rc->action, "install") == 0 ? "static" : "rotate",
		rc->name, kb_rot_result_name(rc->result), rc->action, (long long)rc->ms, why[0] ? ": " : "", why);
	ui->drawn = 0;
}
