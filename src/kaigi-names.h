/* kaigi-names.h
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#pragma once

#include <glib.h>

G_BEGIN_DECLS

/**
 * KAIGI_NAME_MAX_CHARS:
 *
 * The longest room or display name, in Unicode code points.
 */
#define KAIGI_NAME_MAX_CHARS 64

gboolean kaigi_name_validate (const char  *name,
                              GError     **error);

G_END_DECLS
