import type { ComponentChildren } from 'preact';
import { useEffect, useId, useRef } from 'preact/hooks';

/**
 * A modal `<dialog>`: it takes the focus, keeps Tab inside, and closes on Escape (the browser's own behaviour), and
 * gives the focus back to the control that opened it.
 */
export function Modal(props: { title: string; onClose: () => void; children: ComponentChildren }) {
  const ref = useRef<HTMLDialogElement>(null);
  const titleId = useId();
  useEffect(() => {
    const dialog = ref.current;
    const opener = document.activeElement instanceof HTMLElement ? document.activeElement : null;
    dialog?.showModal();
    return () => {
      if (dialog?.open) dialog.close();
      opener?.focus();
    };
  }, []);
  return (
    <dialog ref={ref} aria-labelledby={titleId} onClose={props.onClose}>
      <h2 id={titleId}>{props.title}</h2>
      {props.children}
    </dialog>
  );
}

/** A dialog's form: its fields, then the button that submits it and the one that closes the dialog. */
export function DialogForm(props: {
  onSubmit: () => void;
  /** The submit button's label, e.g. "Apply". */
  action: string;
  busy: boolean;
  onClose: () => void;
  closeLabel?: string;
  children: ComponentChildren;
}) {
  return (
    <form
      method="dialog"
      onSubmit={(event) => {
        event.preventDefault();
        props.onSubmit();
      }}
    >
      {props.children}
      <div class="buttons">
        <button type="submit" disabled={props.busy}>
          {props.action}
        </button>
        <button type="button" onClick={props.onClose}>
          {props.closeLabel ?? 'Cancel'}
        </button>
      </div>
    </form>
  );
}
