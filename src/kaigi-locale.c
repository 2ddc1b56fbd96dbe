/* kaigi-locale.c — where the message catalogues are
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#include "config.h"

#include <string.h>

#include "kaigi-locale.h"

/* PATH without the leading PREFIX and slash, or NULL when it is not below it */
static const char *
below_prefix (const char *path)
{
  gsize len = strlen (KAIGI_PREFIX);

  if (strncmp (path, KAIGI_PREFIX, len) != 0)
    return NULL;
  if (len > 0 && KAIGI_PREFIX[len - 1] == '/')
    return path + len;
  return path[len] == '/' ? path + len + 1 : NULL;
}

/**
 * kaigi_locale_dir_for_executable:
 * @executable: (nullable): the absolute file name of the running program
 *
 * Finds the directory of the message catalogues for a program at
 * @executable. That is the configured LOCALEDIR, except when the program
 * runs from a copy of the whole installed tree in another place (`meson
 * install --destdir`, an unpacked archive): then it is the same directory
 * of that copy, as long as it exists. A program in its configured bindir,
 * or in the build tree, always gets LOCALEDIR.
 *
 * Returns: (transfer full): a directory name
 */
char *
kaigi_locale_dir_for_executable (const char *executable)
{
  const char *relative_bindir = below_prefix (KAIGI_BINDIR);
  const char *relative_localedir = below_prefix (LOCALEDIR);
  g_autofree char *dir = NULL;
  g_autofree char *suffix = NULL;
  g_autofree char *root = NULL;
  g_autofree char *candidate = NULL;

  if (executable == NULL || !g_path_is_absolute (executable) ||
      relative_bindir == NULL || relative_localedir == NULL)
    return g_strdup (LOCALEDIR);

  dir = g_path_get_dirname (executable);
  suffix = g_strconcat (G_DIR_SEPARATOR_S, relative_bindir, NULL);
  if (g_str_equal (dir, KAIGI_BINDIR) || !g_str_has_suffix (dir, suffix))
    return g_strdup (LOCALEDIR);

  root = g_strndup (dir, strlen (dir) - strlen (suffix));
  candidate = g_build_filename (root, relative_localedir, NULL);
  if (!g_file_test (candidate, G_FILE_TEST_IS_DIR))
    return g_strdup (LOCALEDIR);

  return g_steal_pointer (&candidate);
}

/**
 * kaigi_locale_dir:
 *
 * kaigi_locale_dir_for_executable() for the running program.
 *
 * Returns: (transfer full): a directory name
 */
char *
kaigi_locale_dir (void)
{
  g_autofree char *executable = g_file_read_link ("/proc/self/exe", NULL);

  return kaigi_locale_dir_for_executable (executable);
}
