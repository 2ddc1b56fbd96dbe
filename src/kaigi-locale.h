/* kaigi-locale.h
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#pragma once

#include <glib.h>

G_BEGIN_DECLS

char *kaigi_locale_dir                 (void);
char *kaigi_locale_dir_for_executable  (const char *executable);

G_END_DECLS
