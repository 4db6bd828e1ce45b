# Copyright: (c) 2026, edgerelay.proxy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Documentation only; the code is plugins/action/user_files.py."""

from __future__ import annotations

DOCUMENTATION = r"""
module: user_files
short_description: Write each user's client links, QR codes and subscription on the controller
version_added: 0.1.0
author: edgerelay.proxy contributors (@edgerelay)
description:
  - Keeps C(<path>/<stack>/) holding exactly one directory per user of O(users) (mode C(0700)),
    each with these files (mode C(0600)).
  - "C(links.txt): the user's links, one per line, in the given order (for Xray the
    C(vless://) links of every entry node and transport, for MTProxy the C(tg://) and
    C(https://t.me/) links)."
  - "C(<label>.png): a QR code of each link, made with the Python library segno (error
    correction M or better, 8 pixels a module, a 4-module quiet zone). The same link always
    gives the same bytes."
  - "C(subscription.txt) (O(stack=xray) only): the user's links joined by a line feed, in
    standard base64 (RFC 4648 with padding, on one line, no line feed at the end): the
    subscription format v2rayN, Hiddify and Streisand import, from the file or served over
    HTTPS."
  - Removes everything else inside C(<path>/<stack>/), so the files of a user no longer in
    O(users), or of a link no longer offered, are gone. Nothing outside C(<path>/<stack>/)
    is removed, and nothing inside it is followed when it is a symbolic link (the link
    itself is replaced or removed). O(path) and missing parents are created with mode
    C(0700); group and other permissions on an existing O(path) are removed.
  - A file is rewritten (atomically) only when its bytes differ, and modes are fixed when
    they differ, so a second run with the same O(users) reports C(changed=false).
  - In check mode nothing is written; the result says what would change.
  - "With C(--diff) the diff lists file names only: the files created, rewritten, removed
    or whose mode changes, never their content."
  - User names and labels become file names; they are checked (one path component each,
    unique regardless of case) before anything is written. Error messages never quote a
    link.
  - "Runs entirely on the controller; it never connects to the target host and executes no
    module. Run it once (C(run_once), C(delegate_to: localhost)) with every user's links,
    from every host of the stack."
options:
  path:
    description:
      - Absolute path of the directory on the controller, for example
        C({{ inventory_dir }}/.edgerelay/users). The files go to C(<path>/<stack>/<user>/).
        C(~) is expanded. It must not be a symbolic link.
      - The files hold the users' secrets. Do not commit the directory to version control.
    type: path
    required: true
  stack:
    description:
      - Which stack the links belong to, and the directory under O(path) this task owns.
        C(xray) also writes C(subscription.txt).
    type: str
    required: true
    choices: [xray, mtproxy]
  users:
    description:
      - "Every user of the stack and their links: a mapping user name -> list of
        C({label: ..., link: ...}), in the order the links go to C(links.txt) and the
        subscription."
      - A user name has 1 to 64 of C(A-Z a-z 0-9 _ . @ + -) and is not C(.) or C(..).
      - A C(label) names the QR code file C(<label>.png), for example
        C(<host>-<transport>-<port>) or C(<host>-tg); 1 to 128 of C(A-Z a-z 0-9 _ . @ + -),
        starting with a letter or digit, unique per user.
      - A C(link) is a share link of printable ASCII without spaces, at most 2048
        characters.
    type: dict
    required: true
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.flow
attributes:
  action:
    support: full
  async:
    support: none
  bypass_host_loop:
    support: none
  check_mode:
    support: full
  diff_mode:
    support: full
    details: File names only, never their content.
  platform:
    platforms: all
requirements:
  - segno (Python library, on the controller; in requirements.txt)
notes:
  - >-
    The arguments carry the links, and the links hold the secrets (VLESS user ids, MTProxy
    secrets). Always set C(no_log: true) on the task; the task warns when it is not set.
    The result holds no link, so it can be registered and printed.
"""

EXAMPLES = r"""
- name: Write each Xray user's links, QR codes and subscription
  edgerelay.proxy.user_files:
    path: "{{ inventory_dir }}/.edgerelay/users"
    stack: xray
    users:
      alice:
        - label: ru1-tcp-vision-443
          link: "{{ alice_ru1_link }}"
        - label: ru2-tcp-vision-443
          link: "{{ alice_ru2_link }}"
  run_once: true
  delegate_to: localhost
  become: false
  register: user_files
  no_log: true

- name: Say where they are (the result holds no link)
  ansible.builtin.debug:
    msg: "{{ user_files.path }}/<user>/ changed: {{ user_files.changed_files }}"
  run_once: true
"""

RETURN = r"""
path:
  description: The directory of the stack, C(<path>/<stack>).
  returned: when the arguments are valid
  type: str
  sample: /srv/inventory/.edgerelay/users/xray
users:
  description: The user names, sorted (one directory each).
  returned: success
  type: list
  elements: str
  sample: [alice, bob]
changed_files:
  description:
    - Directories (with a trailing C(/)) and files created, rewritten or whose mode was
      fixed (in check mode, that would be), relative to O(path).
  returned: success
  type: list
  elements: str
  sample: [xray/alice/links.txt, xray/alice/ru1-tcp-vision-443.png, xray/alice/subscription.txt]
removed:
  description: What was removed (in check mode, would be), relative to O(path).
  returned: success
  type: list
  elements: str
  sample: [xray/carol]
"""
