/* Shared helpers of the fleet commands.  See fleet.h. */
#include "fleet/fleet.h"

#include <stdio.h>
#include <string.h>

#include "core/err.h"

static bool is_hex_lower(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }
static bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
static bool is_digit(char c) { return c >= '0' && c <= '9'; }

bool kb_fleet_valid_instance_id(const char *id)
{
	size_t n;

	if (id == NULL || strncmp(id, "i-", 2) != 0)
		return false;
	n = strlen(id + 2);
	if (n != 8 && n != 17)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!is_hex_lower(id[2 + i]))
			return false;
	return true;
}

bool kb_fleet_valid_os_user(const char *u)
{
	size_t n = u ? strlen(u) : 0;

	if (n == 0 || n > 32 || !(is_alpha(u[0]) || u[0] == '_'))
		return false;
	for (size_t i = 1; i < n; i++) {
		char c = u[i];
		if (is_alpha(c) || is_digit(c) || c == '_' || c == '-' || c == '.' || c == '@')
			continue;
		if (c == '$' && i == n - 1)
			continue;
		return false;
	}
	return true;
}

bool kb_fleet_valid_az(const char *az)
{
	/* ([a-z]+-){2,3}[0-9]+[a-z]: letters-dash groups, then digits, one letter. */
	size_t i = 0, groups = 0;

	if (az == NULL)
		return false;
	while (az[i] >= 'a' && az[i] <= 'z') {
		while (az[i] >= 'a' && az[i] <= 'z')
			i++;
		if (az[i] != '-')
			return false;
		i++;
		groups++;
	}
	if (groups < 2 || groups > 3 || !is_digit(az[i]))
		return false;
	while (is_digit(az[i]))
		i++;
	return az[i] >= 'a' && az[i] <= 'z' && az[i + 1] == '\0';
}
